"""Listeners loadkit owns bind loopback unless the user opts in (``--allow-non-loopback``)."""

from __future__ import annotations

import ipaddress

from loadkit.errors import ConfigError

__all__ = ["NON_LOOPBACK_FLAG", "check_loopback", "is_loopback"]

NON_LOOPBACK_FLAG = "--allow-non-loopback"


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses (``127.0.0.0/8``, ``::1``)."""
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def check_loopback(host: str, allow_non_loopback: bool, *, field: str = "--host") -> None:
    """ConfigError (exit 2) when ``host`` is not loopback and the user did not opt in."""
    if host == "localhost":
        return
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        raise ConfigError(
            f"{host!r} is not an IP address", field=field, fix="use e.g. 127.0.0.1"
        ) from None
    if not is_loopback(host) and not allow_non_loopback:
        raise ConfigError(
            f"{host} is not a loopback address",
            field=field,
            fix=f"use 127.0.0.1, or add {NON_LOOPBACK_FLAG} to expose it on purpose",
        )

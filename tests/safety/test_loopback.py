"""loadkit.safety.loopback: listeners bind loopback unless the user opts in."""

from __future__ import annotations

import pytest

from loadkit.errors import ConfigError
from loadkit.safety.loopback import NON_LOOPBACK_FLAG, check_loopback, is_loopback


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "::ffff:127.0.0.1"]
)
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)
    check_loopback(host, False)


@pytest.mark.parametrize("host", ["0.0.0.0", "10.0.0.1", "192.168.1.2", "::", "example.org", ""])
def test_other_hosts_are_not_loopback(host: str) -> None:
    assert not is_loopback(host)


def test_a_non_loopback_bind_needs_the_opt_in() -> None:
    with pytest.raises(ConfigError) as info:
        check_loopback("0.0.0.0", False, field="--host")
    message = str(info.value)
    assert "--host" in message and NON_LOOPBACK_FLAG in message and "\n" not in message
    check_loopback("0.0.0.0", True)  # the user asked for it


def test_a_name_is_not_an_address() -> None:
    with pytest.raises(ConfigError, match="not an IP address"):
        check_loopback("example.org", True)

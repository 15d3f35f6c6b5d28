"""Custom Locust arguments: shown in the web UI, sent to workers, checked like argparse's.

- :class:`WebArguments` adds arguments to Locust's parser with
  ``include_in_web_ui`` on.
- :func:`setting` reads one (its default when run without Locust's parser).
- :func:`typed` and the ready-made parsers (``positive_float``...) give
  one-line argparse errors.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from locust.env import Environment

__all__ = [
    "WebArguments",
    "int_list",
    "non_negative_float",
    "non_negative_int",
    "positive_float",
    "positive_int",
    "probability",
    "setting",
    "typed",
]


class _Deprecated(argparse.Action):
    """An old flag: sets the new one's value and prints a one-line notice."""

    def __init__(self, *args: Any, new_flag: str, **kwargs: Any) -> None:
        self.new_flag = new_flag
        super().__init__(*args, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        print(
            f"loadkit: {option_string} is deprecated; use {self.new_flag}",
            file=sys.stderr,
            flush=True,
        )
        setattr(namespace, self.dest, values)


class WebArguments:
    """Adds custom arguments to Locust's parser, shown in the web UI and sent to workers.

    (Argument groups would lose Locust's ``include_in_web_ui``: only its own
    parser's ``add_argument`` knows it.) ``deprecated=("--old-name",)`` keeps
    old flags working, with a one-line notice.
    """

    def __init__(self, parser: Any) -> None:
        self.parser = parser

    def add_argument(self, flag: str, *, deprecated: tuple[str, ...] = (), **options: Any) -> None:
        options.setdefault("include_in_web_ui", True)
        action = self.parser.add_argument(flag, **options)
        check = options.get("type")
        choices = options.get("choices")
        if choices is not None:
            check = _one_of(tuple(choices))
        if check is not None and options["include_in_web_ui"]:
            WEB_CHECKS[action.dest] = check
        for old in deprecated:
            self.parser.add_argument(
                old,
                dest=action.dest,
                type=options.get("type"),
                choices=choices,
                action=_Deprecated,
                new_flag=flag,
                default=argparse.SUPPRESS,
                help=argparse.SUPPRESS,
                include_in_web_ui=False,
            )


def _one_of(choices: tuple[str, ...]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in choices:
            raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(choices)}")
        return text

    return parse


def setting(environment: Environment, name: str, default: Any) -> Any:
    """A custom argument's value (``default`` when run without Locust's parser)."""
    options = environment.parsed_options
    return getattr(options, name, default) if options is not None else default


def typed(kind: Callable[[str], Any], ok: Callable[[Any], bool], what: str) -> Callable[[str], Any]:
    """An argparse ``type=``: ``kind(text)`` that must satisfy ``ok``, else "'x' is not WHAT"."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return value

    parse.__name__ = what
    return parse


positive_int = typed(int, lambda v: v > 0, "a whole number > 0")
non_negative_int = typed(int, lambda v: v >= 0, "a whole number >= 0")
positive_float = typed(float, lambda v: v > 0, "a number > 0")
non_negative_float = typed(float, lambda v: v >= 0, "a number >= 0")
probability = typed(float, lambda v: 0 <= v <= 1, "a number from 0 to 1")


def _int_list(text: str) -> list[int]:
    return [int(part) for part in str(text).split(",") if part.strip()]


int_list = typed(
    _int_list, lambda v: bool(v) and all(n >= 0 for n in v), "a comma-separated list of sizes"
)


# dest -> parser of the raw text, for the web UI's check (see loadkit.users.webui)
WEB_CHECKS: dict[str, Callable[[str], Any]] = {}

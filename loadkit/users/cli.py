"""``loadkit init [DIR]`` writes a starter; ``loadkit options [LOCUSTFILE]`` lists the options.

``init`` copies a scenario, a locustfile and a service profile that run green
against the built-in target (``loadkit run DIR/scenario.yaml``); it never
overwrites a file. ``options`` imports the locustfile (the shipped
``mixed.py`` by default) and lists every option loadkit and its users add to
Locust, with default and help: ``locust --help`` prints its help before it
imports a locustfile, so it never shows them.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import sys
from pathlib import Path
from typing import Any

from loadkit.errors import EXIT_OK, ConfigError

__all__ = ["init_handler", "options_handler", "register"]

STARTER = ("scenario.yaml", "locustfile.py", "profile.yaml")


def register(subparsers: Any) -> None:
    init = subparsers.add_parser(
        "init", help="write a starter scenario, locustfile and profile", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    init.add_argument("dir", nargs="?", default=".", help="folder to write (default: here)")
    init.set_defaults(func=init_handler)
    options = subparsers.add_parser(
        "options", help="list every loadkit and user option with its default and help",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    options.add_argument("locustfile", nargs="?", help="locustfile (default: the shipped mixed.py)")
    options.set_defaults(func=options_handler)


def init_handler(args: argparse.Namespace) -> int:
    from loadkit.examples import EXAMPLES

    folder = Path(args.dir)
    taken = [name for name in STARTER if (folder / name).exists()]
    if taken:
        raise ConfigError(
            f"{folder / taken[0]} already exists", field="DIR", fix="give an empty or new folder"
        )
    folder.mkdir(parents=True, exist_ok=True)
    for name in STARTER:
        shutil.copyfile(EXAMPLES / "starter" / name, folder / name)
    print(f"wrote {', '.join(str(folder / n) for n in STARTER)}")
    print(f"run it: loadkit run {folder / 'scenario.yaml'}")
    return EXIT_OK


def _import_locustfile(path: Path) -> None:
    if not path.is_file():
        raise ConfigError(f"{str(path)!r} does not exist", field="LOCUSTFILE",
                          fix="give the path of a locustfile")  # fmt: skip
    sys.path.insert(0, str(path.resolve().parent))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)


def option_rows(locustfile: Path) -> list[tuple[str, str, str]]:
    """(flags, default, help) of every option Locust itself does not define."""
    from locust import argument_parser

    import loadkit.locust  # noqa: F401  (the plugin's own --loadkit-* options)

    _import_locustfile(locustfile)
    own = set(argument_parser.default_args_dict())
    parser = argument_parser.get_parser()
    aliases: dict[str, list[str]] = {}
    rows: list[tuple[str, str, str]] = []
    for action in parser._actions:
        if action.dest in own or action.dest in ("help", "version") or not action.option_strings:
            continue
        if action.help == argparse.SUPPRESS:
            aliases.setdefault(action.dest, []).extend(action.option_strings)
            continue
        default = "" if action.default in (None, argparse.SUPPRESS) else str(action.default)
        rows.append((", ".join(action.option_strings), default, str(action.help or "")))
    return [
        (flags, default, help_ + _old(aliases.get(flags.split(", ")[-1][2:].replace("-", "_"))))
        for flags, default, help_ in rows
    ]


def _old(names: list[str] | None) -> str:
    return f" (deprecated: {', '.join(names)})" if names else ""


def options_handler(args: argparse.Namespace) -> int:
    from loadkit.examples import EXAMPLES

    path = Path(args.locustfile) if args.locustfile else EXAMPLES / "locustfiles" / "mixed.py"
    rows = option_rows(path)
    width = max(len(flags) for flags, _, _ in rows)
    for flags, default, help_ in rows:
        shown = f" (default: {default})" if default != "" and "default" not in help_ else ""
        print(f"  {flags:<{width}}  {help_}{shown}")
    return EXIT_OK

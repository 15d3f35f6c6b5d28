"""The package's public surface: __all__, the exception tree, the CLI dispatcher."""

from __future__ import annotations

import subprocess
import sys

import loadkit
from loadkit import errors
from loadkit.cli import COMMANDS, main


def test_all_names_exist_and_are_sorted() -> None:
    for name in loadkit.__all__:
        assert hasattr(loadkit, name), name
    assert loadkit.__all__ == sorted(loadkit.__all__)
    assert set(errors.__all__) <= set(dir(errors))


def test_every_error_derives_from_one_root() -> None:
    for name in errors.__all__:
        obj = getattr(errors, name)
        if isinstance(obj, type):
            assert issubclass(obj, errors.LoadkitError), name


def test_config_error_is_one_line_naming_file_field_and_fix() -> None:
    exc = errors.ScenarioError(
        "'3 minutes' is not a duration",
        source="s.yaml",
        line=4,
        field="stages[0].duration",
        fix="write e.g. '30s'",
    )
    assert str(exc) == (
        "s.yaml:4: stages[0].duration: '3 minutes' is not a duration; write e.g. '30s'"
    )
    assert exc.exit_code == errors.EXIT_BAD_INPUT
    assert "\n" not in str(exc)


def test_unknown_command_is_one_line_and_exit_2(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["nosuch"]) == errors.EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "unknown command 'nosuch'" in err and "Traceback" not in err


def test_every_command_module_registers() -> None:
    for command in COMMANDS:
        proc = subprocess.run(
            [sys.executable, "-m", "loadkit", command, "--help"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, (command, proc.stderr)
        assert "usage: loadkit" in proc.stdout

"""The code's shape is part of the test suite: ruff and mypy clean, few top-level modules,
no module over 400 lines, and tests/ mirroring loadkit/ (docs/architecture.md, "Rules").

Each rule fails with the file to fix and how, so breaking one is caught here, not in review.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "loadkit"
TESTS = ROOT / "tests"

MAX_TOP_LEVEL_MODULES = 7  # __init__ __main__ _proc cli errors locust units
MAX_MODULE_LINES = 400
# Modules known to be over the limit, each with the work that brings it back under. An
# entry must still be over (else the test says to remove it), so the list cannot go stale.
OVER_LIMIT: dict[str, str] = {}
# Package data, not code: shipped example files (tested where they are used: `loadkit
# init`, the shipped scenarios).
NOT_MIRRORED = {"examples"}
# tests/ folders for what the repo ships beside the package.
BESIDE_THE_PACKAGE = {
    "scenarios": "the scenario files in scenarios/",
    "docker": "Dockerfile and docker-compose.yml",
}


def _modules() -> list[Path]:
    return sorted(
        path
        for path in PACKAGE.rglob("*.py")
        if "__pycache__" not in path.parts
        and path.relative_to(PACKAGE).parts[0] not in NOT_MIRRORED
    )


def _packages() -> set[Path]:
    """loadkit/'s folders that hold Python modules, relative to loadkit/ (``.`` for it)."""
    return {path.parent.relative_to(PACKAGE) for path in _modules()}


def _test_folders() -> set[Path]:
    """tests/'s folders that hold test files, relative to tests/ (helpers' folders aside)."""
    return {path.parent.relative_to(TESTS) for path in TESTS.rglob("test_*.py")}


def test_the_top_level_of_the_package_holds_few_modules() -> None:
    top = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, (
        f"loadkit/ holds {len(top)} modules ({', '.join(top)}): at most "
        f"{MAX_TOP_LEVEL_MODULES}; put the new one in the folder of its concern"
    )


def test_no_module_is_over_the_line_limit() -> None:
    lines = {
        str(path.relative_to(PACKAGE)): len(path.read_text("utf-8").splitlines())
        for path in _modules()
    }
    over = {name: n for name, n in lines.items() if n > MAX_MODULE_LINES}
    unexplained = sorted(
        f"loadkit/{name} ({n} lines)" for name, n in over.items() if name not in OVER_LIMIT
    )
    assert not unexplained, (
        f"over {MAX_MODULE_LINES} lines: {', '.join(unexplained)}; split by concern"
    )
    stale = sorted(name for name in OVER_LIMIT if lines.get(name, 0) <= MAX_MODULE_LINES)
    assert not stale, f"back under {MAX_MODULE_LINES} lines: remove {stale} from OVER_LIMIT"


def test_every_package_folder_has_its_tests_folder() -> None:
    missing = sorted(str(folder) for folder in _packages() - _test_folders())
    assert not missing, (
        f"loadkit/ folders without tests in the same place under tests/: {missing}; "
        "tests of loadkit/<folder>/x.py go in tests/<folder>/"
    )


def test_every_tests_folder_mirrors_a_package_folder() -> None:
    stray = sorted(
        str(folder)
        for folder in _test_folders() - _packages()
        if str(folder) not in BESIDE_THE_PACKAGE
    )
    assert not stray, (
        f"tests/ folders with no loadkit/ folder of the same name: {stray}; move their "
        "tests under the folder of the module they test"
    )


def test_a_test_named_after_a_module_sits_in_that_modules_folder() -> None:
    """``test_<name>.py`` beside no ``<name>.py`` but named after one elsewhere is misfiled."""
    folders: dict[str, set[Path]] = {}
    for module in _modules():
        folders.setdefault(module.stem.lstrip("_"), set()).add(module.parent.relative_to(PACKAGE))
    misfiled = []
    for test in sorted(TESTS.rglob("test_*.py")):
        where = folders.get(test.stem.removeprefix("test_"), set())
        here = test.parent.relative_to(TESTS)
        if where and here not in where:
            homes = " or ".join(
                "tests/" if folder == Path() else f"tests/{folder}/" for folder in sorted(where)
            )
            misfiled.append(f"{test.relative_to(ROOT)} belongs in {homes}")
    assert not misfiled, "; ".join(misfiled)


def test_test_file_names_are_unique() -> None:
    """pytest imports test files by basename (prepend mode): two of one name collide."""
    seen: dict[str, list[str]] = {}
    for test in sorted(TESTS.rglob("test_*.py")):
        seen.setdefault(test.name, []).append(str(test.relative_to(ROOT)))
    twice = [paths for paths in seen.values() if len(paths) > 1]
    assert not twice, f"test files of one name: {twice}; rename one"


def _tool(name: str) -> str:
    path = Path(sys.executable).parent / name
    found = str(path) if path.exists() else shutil.which(name)
    if not found:
        pytest.skip(f"{name} is not installed (pip install -e '.[test]')")
    return found


def test_ruff_clean() -> None:
    proc = subprocess.run(
        [_tool("ruff"), "check", "loadkit", "tests", "locustfiles", "bench"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_clean() -> None:
    proc = subprocess.run([_tool("mypy")], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_clean_on_the_example_locustfiles() -> None:
    proc = subprocess.run([_tool("mypy"), "locustfiles"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr

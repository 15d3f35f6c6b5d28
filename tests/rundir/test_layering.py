"""loadkit.rundir is the contract the other parts import: it imports none of them."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import loadkit.rundir

RUNDIR = Path(loadkit.rundir.__file__).parent
ALLOWED = ("loadkit.errors", "loadkit.units", "loadkit.rundir")
PARTS = {"metrics", "faults", "report", "run"}  # the parts that import rundir


def _loadkit_imports(path: Path) -> list[tuple[int, str]]:
    """Every ``loadkit...`` module imported anywhere in ``path`` (also inside functions)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against loadkit.rundir
                found.append((node.lineno, "loadkit.rundir." + (node.module or "")))
            elif node.module:
                found.append((node.lineno, node.module))
                if node.module == "loadkit":
                    found += [(node.lineno, f"loadkit.{alias.name}") for alias in node.names]
    return [(line, name) for line, name in found if name.split(".")[0] == "loadkit"]


def test_rundir_modules_import_only_errors_units_and_rundir() -> None:
    modules = sorted(RUNDIR.glob("*.py"))
    assert len(modules) >= 8
    offending = [
        f"{path.name}:{line}: {name}"
        for path in modules
        for line, name in _loadkit_imports(path)
        if name != "loadkit" and not name.startswith(ALLOWED)
    ]
    assert offending == []


def test_importing_every_rundir_module_loads_no_other_part() -> None:
    names = [
        f"loadkit.rundir.{p.stem}" for p in sorted(RUNDIR.glob("*.py")) if p.stem != "__init__"
    ]
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}: importlib.import_module(name)\n"
        "print('\\n'.join(sorted(m for m in sys.modules if m.startswith('loadkit.'))))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    loaded = proc.stdout.split()
    assert set(names) <= set(loaded)
    assert [m for m in loaded if m.split(".")[1] in PARTS] == []


def test_the_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text("def f():\n    from loadkit.report.hdr import grouped_percentiles\n")
    assert _loadkit_imports(module) == [(2, "loadkit.report.hdr")]

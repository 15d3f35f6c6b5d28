"""Reading a scenario file into a :class:`~loadkit.scenario.model.Scenario`.

:func:`load_scenario` parses the YAML (:mod:`loadkit.scenario.yamldoc` keeps the
line of every field), validates one section at a time and raises
:class:`~loadkit.errors.ScenarioError` naming ``file:line: field: problem; fix``.
The grammar is described at the top of :mod:`loadkit.scenario.model`; stages
and shapes are checked by :mod:`loadkit.load.stages`, faults by
:mod:`loadkit.faults.model`, checks by :mod:`loadkit.report.checks`.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from loadkit.errors import ConfigError, ScenarioError
from loadkit.load.stages import SHAPE_KINDS, Stage, expand, parse_stages
from loadkit.scenario.model import Scenario, project_root
from loadkit.scenario.service import service_options
from loadkit.scenario.yamldoc import FieldPath, YamlDoc, did_you_mean

if TYPE_CHECKING:
    from loadkit.faults.model import FaultSpec

__all__ = ["DEFAULT_LOCUSTFILES", "load_scenario", "locustfile_classes"]

DEFAULT_LOCUSTFILES: dict[str, str] = {
    "WorkspaceUser": "workspace.py",
    "SessionBurstUser": "sessions.py",
    "SyncClientUser": "sync.py",
}
MIXED_LOCUSTFILE = "mixed.py"
TOP_KEYS = tuple(
    "name description target locustfile users stages shape faults checks baseline options "  # noqa: SIM905
    "interval service probes audit target_options".split()
)
# Locust arguments `loadkit run` sets itself; a scenario's options may not.
RESERVED_OPTIONS = frozenset(
    "f locustfile H host headless autostart u users r spawn-rate t run-time master worker "  # noqa: SIM905
    "master-host master-port master-bind-host master-bind-port expect-workers web-host web-port "
    "loadkit-scenario loadkit-faults loadkit-out loadkit-target-info loadkit-run-name "
    "loadkit-interval user-profile".split()
)
_OPTION_RE = re.compile(r"^[a-z][a-z0-9-]*$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def locustfile_classes(path: Path) -> set[str]:
    """Names a locustfile defines or imports (read statically: the file is not run)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.ImportFrom):
            names.update(alias.asname or alias.name for alias in node.names)
    return names


def _resolve(raw: str, scenario_dir: Path) -> Path:
    path = Path(raw).expanduser()
    if path.is_absolute():
        return path
    for base in (Path.cwd(), scenario_dir, project_root()):
        if (base / path).exists():
            return (base / path).resolve()
    return (Path.cwd() / path).resolve()


# -- one validator per section -------------------------------------------------


def _whole(doc: YamlDoc, value: Any, path: FieldPath, minimum: int, example: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise doc.error(
            path, f"{value!r} is not a whole number >= {minimum}", f"write e.g. '{example}'"
        )
    return value


def _users(doc: YamlDoc, raw: Any) -> dict[str, int]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not raw:
        raise doc.error(
            ("users",),
            "must be a mapping of user class to weight",
            "write e.g. 'users: {WorkspaceUser: 3, SyncClientUser: 1}'",
        )
    return {
        str(name): _whole(doc, weight, ("users", str(name)), 1, f"{name}: 3")
        for name, weight in raw.items()
    }


def _locustfile(doc: YamlDoc, raw: Any, users: dict[str, int], scenario_dir: Path) -> Path:
    if raw is None:
        files = {DEFAULT_LOCUSTFILES.get(name, MIXED_LOCUSTFILE) for name in users}
        chosen = files.pop() if len(files) == 1 else MIXED_LOCUSTFILE
        path = project_root() / "locustfiles" / chosen
    elif isinstance(raw, str) and raw.strip():
        path = _resolve(raw, scenario_dir)
    else:
        raise doc.error(("locustfile",), "must be a path", "write e.g. 'locustfiles/mixed.py'")
    if not path.is_file():
        if raw is None:
            raise doc.error(
                ("users",),
                f"the default locustfile {str(path)!r} does not exist",
                "set 'locustfile:' to the file that defines these users",
            )
        raise doc.error(
            ("locustfile",),
            f"{str(path)!r} does not exist",
            "give the path of a locustfile, e.g. 'locustfiles/mixed.py'",
        )
    try:
        known = locustfile_classes(path)
    except SyntaxError as exc:
        raise doc.error(("locustfile",), f"{path.name} has a syntax error: {exc.msg}") from None
    for name in users:
        if name not in known:
            candidates = sorted(n for n in known if n.endswith("User")) or sorted(known)
            raise doc.error(
                ("users", name),
                f"no user class {name!r} in {path.name}",
                did_you_mean(name, candidates),
            )
    return path


def _stages(doc: YamlDoc, raw: Any) -> tuple[Stage, ...]:
    try:
        return parse_stages(raw, source=doc.display)
    except ConfigError as exc:
        raise doc.relocate(exc, "stages") from None


def _shape(doc: YamlDoc, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict) or "kind" not in raw:
        raise doc.error(
            ("shape",),
            "must be a mapping with a 'kind'",
            f"write e.g. 'shape: {{kind: soak, users: 20, duration_s: 10m}}' "
            f"with kind one of {', '.join(SHAPE_KINDS)}",
        )
    kind = raw["kind"]
    if kind not in SHAPE_KINDS:
        fix = did_you_mean(str(kind), SHAPE_KINDS)
        if kind == "stages":
            fix = "write the list as the scenario's own 'stages:' key"
        raise doc.error(("shape", "kind"), f"unknown shape {kind!r}", fix)
    shape: dict[str, Any] = {"kind": kind}
    for key, value in raw.items():
        if key != "kind":  # durations may be written '30s' / '2m'
            is_duration = str(key).endswith("_s") and value is not None
            shape[str(key)] = doc.duration(value, ("shape", str(key))) if is_duration else value
    try:
        expand(kind, {k: v for k, v in shape.items() if k != "kind"}, source=doc.display)
    except ConfigError as exc:
        raise doc.relocate(exc, "shape") from None
    return shape


def _options(doc: YamlDoc, raw: Any) -> dict[str, str | int | float | bool]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise doc.error(
            ("options",),
            "must be a mapping of Locust argument to value",
            "write e.g. 'options: {poll-interval: 0.5}'",
        )
    options: dict[str, str | int | float | bool] = {}
    for key, value in raw.items():
        name = str(key).removeprefix("--").replace("_", "-")
        path: FieldPath = ("options", str(key))
        if not _OPTION_RE.match(name):
            raise doc.error(path, f"{key!r} is not an argument name", "write e.g. 'poll-interval'")
        if name in RESERVED_OPTIONS:
            raise doc.error(
                path,
                f"'--{name}' is set by loadkit run",
                "use the scenario's keys (target, users, stages) or loadkit run's flags",
            )
        if not isinstance(value, str | int | float | bool):
            raise doc.error(path, f"{value!r} is not a single value", "write a string or a number")
        options[name] = value
    return options


def _faults(doc: YamlDoc, raw: Any) -> tuple[FaultSpec, ...]:
    if raw is None:
        return ()
    from loadkit.faults.model import parse_faults  # the faults part owns the fault grammar

    count = len(raw) if isinstance(raw, list) else 0
    lines = {i: line for i in range(count) if (line := doc.line(("faults", i))) is not None}
    try:
        return tuple(parse_faults(raw, source=doc.display, lines=lines))
    except ConfigError as exc:
        raise doc.relocate(exc, "faults") from None


def _check_text(doc: YamlDoc, index: int, item: Any) -> str:
    """One check as text: YAML reads ``- optional: p95(X) < 1s`` as ``{optional: ...}``."""
    if isinstance(item, str):
        return item
    if isinstance(item, dict) and list(item) == ["optional"] and isinstance(item["optional"], str):
        return f"optional: {item['optional']}"
    raise doc.error(
        ("checks", index),
        f"{item!r:.40} is not a check expression",
        "write e.g. '- p95(POST /execute) < 250ms' or '- optional: p95(WS notify) < 1s'",
    )


def _checks(doc: YamlDoc, raw: Any) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise doc.error(
            ("checks",),
            "must be a list of check expressions",
            "write e.g. '- p95(POST /execute) < 250ms'",
        )
    from loadkit.report.checks import parse_check  # the reporter owns the check grammar

    checks = tuple(_check_text(doc, index, item) for index, item in enumerate(raw))
    for index, expression in enumerate(checks):
        try:
            parse_check(expression)
        except ConfigError as exc:
            raise doc.error(("checks", index), exc.problem, exc.fix) from None
    return checks


def _target(doc: YamlDoc, raw: Any) -> str:
    if raw is None or raw == "builtin":
        return "builtin"
    fix = "write 'builtin' or a URL such as 'http://127.0.0.1:8080'"
    parts = urlsplit(raw) if isinstance(raw, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise doc.error(("target",), f"{raw!r} is not 'builtin' or an http(s) URL", fix)
    return str(raw).rstrip("/")


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file; raises ScenarioError (one line, file:line)."""
    source = Path(path)
    doc = YamlDoc(source, str(path))
    data = doc.data
    if not isinstance(data, dict):
        raise doc.error((), "a scenario must be a YAML mapping", "start with 'name: my-run'")
    doc.check_keys(data, TOP_KEYS, ())
    name = data.get("name", source.stem)
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise doc.error(
            ("name",),
            f"{name!r} is not a run name",
            "use letters, digits, '-', '_' or '.', e.g. 'workspace-gateway'",
        )
    if "stages" in data and "shape" in data:
        raise doc.error(("shape",), "'stages' and 'shape' both given", "keep one of them")
    if "stages" not in data and "shape" not in data:
        raise doc.error((), "no load given", "add 'stages:' (a list) or 'shape: {kind: ramp, ...}'")
    users = _users(doc, data.get("users"))
    interval = None
    if data.get("interval") is not None:
        interval = doc.duration(data["interval"], ("interval",))
        if interval <= 0:
            raise doc.error(("interval",), "must be longer than 0s", "write e.g. '1s'")
    baseline = data.get("baseline")
    if baseline is not None and not isinstance(baseline, str):
        raise doc.error(
            ("baseline",),
            f"{baseline!r} is not a path",
            "write e.g. 'reports/baselines/quickstart.json'",
        )
    from loadkit.scenario.sections import check_service_checks, service_sections

    target = _target(doc, data.get("target"))
    service = service_sections(doc, data, target)  # probes, audit, target_options
    scenario = Scenario(
        name=name,
        source=source.resolve(),
        target=target,
        locustfile=_locustfile(doc, data.get("locustfile"), users, source.resolve().parent),
        users=users,
        stages=_stages(doc, data["stages"]) if "stages" in data else (),
        shape=_shape(doc, data["shape"]) if "shape" in data else None,
        faults=_faults(doc, data.get("faults")),
        checks=_checks(doc, data.get("checks")),
        baseline=baseline,
        options={
            **_options(doc, data.get("options")),
            **service_options(doc, data.get("service"), source.resolve()),
        },
        interval_s=interval,
        description=str(data.get("description") or ""),
        probes=service.probes,
        audit=service.audit,
        target_options=service.target_options,
    )
    _check_names(doc, scenario)
    check_service_checks(doc, scenario)  # probes and the audit
    return scenario


def _check_names(doc: YamlDoc, scenario: Scenario) -> None:
    """Checks naming a stage or fault the scenario lacks: exit 2 now, not after the run."""
    from loadkit.report.checks import parse_check, validate_names

    stages = [stage.name or str(stage.index) for stage in scenario.plan]
    faults = [fault.name for fault in scenario.faults]
    for index, expression in enumerate(scenario.checks):
        try:
            validate_names(parse_check(expression), stages=stages, faults=faults)
        except ConfigError as exc:
            raise doc.error(("checks", index), exc.problem, exc.fix) from None


def refuse_stage_checks(scenario: Scenario, flags: str) -> None:
    """With the load replaced by one stage (``flags``: ``--users/--duration``, ``-u``), a
    check ``during STAGE`` could never be measured: exit 2 now, not a failed check later."""
    from loadkit.report.checks import parse_check

    for index, expression in enumerate(scenario.checks):
        phase = parse_check(expression).phase
        if phase.startswith("stage:"):
            raise ScenarioError(
                f"'{expression}' names the stage '{phase.removeprefix('stage:')}', but {flags} "
                "replace the scenario's stages with one",
                source=str(scenario.source),
                field=f"checks[{index}]",
                fix=f"drop {flags}, or the check's 'during' part",
            )

"""YAML files whose errors name the file and line: the scenario loader's reader.

:class:`YamlDoc` parses a file twice with PyYAML's safe loader: once into plain
Python values, once into the node tree, from which it records the line of
every key and value by path (``("stages", 1, "duration")``). Validators then
raise :class:`~loadkit.errors.ScenarioError` through :meth:`YamlDoc.error`,
which renders ``file:line: field: problem; fix`` in one line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from loadkit.errors import ConfigError, ScenarioError, did_you_mean
from loadkit.units import parse_duration

__all__ = ["FieldPath", "YamlDoc", "did_you_mean", "field_name"]

FieldPath = tuple[str | int, ...]
_FIELD_PART_RE = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_LABEL_RE = re.compile(r"\s*\([^)]*\)")  # "faults[1] (gw-pause).for": drop "(gw-pause)"


def field_name(path: FieldPath) -> str:
    """``("stages", 1, "duration")`` → ``stages[1].duration``."""
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


def parse_field(name: str) -> FieldPath:
    """``stages[1].duration`` → ``("stages", 1, "duration")`` (labels in parentheses dropped)."""
    name = _LABEL_RE.sub("", name)
    return tuple(int(index) if index else part for part, index in _FIELD_PART_RE.findall(name))


def _record_lines(node: yaml.Node, path: FieldPath, lines: dict[FieldPath, int]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = str(key_node.value)
            lines[(*path, key)] = key_node.start_mark.line + 1
            _record_lines(value_node, (*path, key), lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record_lines(item, (*path, index), lines)


class YamlDoc:
    """A parsed YAML file plus the line of every key and value, for error messages."""

    def __init__(self, source: Path, display: str) -> None:
        self.display = display
        try:
            text = source.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ScenarioError(
                "no such file", source=display, fix="check the path, e.g. 'ls scenarios/'"
            ) from None
        except IsADirectoryError:
            raise ScenarioError("is a folder", source=display, fix="give a .yaml file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ScenarioError(f"cannot read: {exc}", source=display) from None
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
            self.data: Any = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ScenarioError(
                f"not valid YAML: {problem}",
                source=display,
                line=mark.line + 1 if mark else None,
                fix="check indentation, colons and quotes",
            ) from None
        self.lines: dict[FieldPath, int] = {}
        if node is not None:
            _record_lines(node, (), self.lines)

    def line(self, path: FieldPath) -> int | None:
        """The line of ``path``, or of its nearest recorded parent."""
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path)

    def error(self, path: FieldPath, problem: str, fix: str | None = None) -> ScenarioError:
        return ScenarioError(
            problem,
            source=self.display,
            line=self.line(path),
            field=field_name(path) or None,
            fix=fix,
        )

    def relocate(self, exc: ConfigError, section: str) -> ScenarioError:
        """Another part's ConfigError about ``section``, with this file's name and line."""
        raw = exc.field or ""
        path = parse_field(raw)
        if not path or path[0] != section:
            path = (section, *path)
            raw = f"{section}{'' if raw.startswith('[') or not raw else '.'}{raw}"
        return ScenarioError(
            exc.problem,
            source=self.display,
            line=exc.line or self.line(path),
            field=raw,
            fix=exc.fix,
        )

    def duration(self, value: Any, path: FieldPath) -> float:
        try:
            return parse_duration(value)
        except ConfigError as exc:
            raise self.error(path, exc.problem, exc.fix) from None

    def check_keys(
        self, mapping: Mapping[Any, Any], allowed: Iterable[str], path: FieldPath
    ) -> None:
        allowed = tuple(allowed)
        for key in mapping:
            if str(key) not in allowed:
                raise self.error((*path, str(key)), "unknown key", did_you_mean(str(key), allowed))

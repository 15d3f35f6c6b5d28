"""Per-workspace state for ``set`` / ``get``: one small JSON file per workspace.

Files live in ``<data-dir>/workspaces/<name>/vars.json`` (the agent's jobs) or
``<data-dir>/containers/<name>/vars.json`` (session messages, per container). Names are checked
against the contract's pattern and the resolved path must stay inside the data
dir, so a name like ``../x`` can never reach a file outside it.
"""

from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path

__all__ = ["WORKSPACE_PATTERN", "FileVarStore", "is_valid_workspace"]

WORKSPACE_PATTERN = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}")


def is_valid_workspace(name: object) -> bool:
    """``[A-Za-z0-9_.-]{1,64}``, not starting with '.'."""
    return isinstance(name, str) and WORKSPACE_PATTERN.fullmatch(name) is not None


class FileVarStore:
    """Workspace variables on disk, safe for the agent's worker threads."""

    def __init__(self, data_dir: Path, folder: str = "workspaces") -> None:
        self.root = (data_dir / folder).resolve()
        self._lock = threading.Lock()

    def _path(self, workspace: str) -> Path:
        if not is_valid_workspace(workspace):
            raise ValueError(f"invalid workspace name {workspace!r:.80}")
        path = (self.root / workspace / "vars.json").resolve()
        if not path.is_relative_to(self.root):
            raise ValueError(f"workspace {workspace!r:.80} escapes the data dir")
        return path

    def _load(self, path: Path) -> dict[str, str]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, workspace: str, name: str) -> str:
        with self._lock:
            return str(self._load(self._path(workspace)).get(name, ""))

    def set(self, workspace: str, name: str, value: str) -> None:
        path = self._path(workspace)
        with self._lock:
            data = self._load(path)
            data[name] = value
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
            os.replace(tmp, path)

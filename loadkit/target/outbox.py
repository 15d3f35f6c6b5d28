"""Results the agent could not deliver yet, one JSON file each, under ``<data-dir>/outbox``.

A file is written atomically (temp file + rename) before the in-memory copy is
dropped, so a result survives the agent being killed; it is deleted only after
the gateway has acknowledged it. Delivering twice is harmless: the gateway
applies a result once. The agent is the only writer, so the list of waiting
ids is kept in memory (read from disk once, at start).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["Outbox"]


class Outbox:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        files = [p for p in self.folder.glob("*.json") if not p.name.startswith(".")]
        files.sort(key=lambda p: p.stat().st_mtime)
        self._waiting: dict[str, None] = dict.fromkeys(p.stem for p in files)

    def _path(self, request_id: str) -> Path:
        if not request_id.isalnum():
            raise ValueError(f"bad request id {request_id!r:.80}")
        return self.folder / f"{request_id}.json"

    def put(self, result: dict[str, Any]) -> None:
        path = self._path(str(result["request_id"]))
        tmp = path.with_name(f".{path.name}.tmp")
        with tmp.open("w", encoding="utf-8") as handle:
            json.dump(result, handle, ensure_ascii=False)
        os.replace(tmp, path)
        self._waiting[path.stem] = None

    def ids(self) -> list[str]:
        """Waiting request ids, oldest first."""
        return list(self._waiting)

    def get(self, request_id: str) -> dict[str, Any] | None:
        try:
            data = json.loads(self._path(request_id).read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def remove(self, request_id: str) -> None:
        self._path(request_id).unlink(missing_ok=True)
        self._waiting.pop(request_id, None)

    def __len__(self) -> int:
        return len(self._waiting)

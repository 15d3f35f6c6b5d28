"""A journal of active faults on disk, so a hard-killed run's faults can be undone.

While a run has faults active, it keeps two copies of one small file up to
date (rewritten atomically on every inject and revert):

- ``<run-dir>/faults.journal`` (the run directory contract: empty when all
  faults are reverted);
- ``<index>/<owner pid>-<start>.journal`` in the journal index
  (``$LOADKIT_FAULTS_INDEX``, default ``~/.loadkit/faults``), deleted when empty,
  so ``loadkit faults recover`` and the start of the next run find faults left
  behind by any run on this machine without knowing its run directory.

Each line is one active fault: ``{name, spec, context, owner_pid, run_dir,
injected_at, run_pid, run_owned}``. :func:`recover` reverts the faults of
journals whose owner is no longer running. It never writes into a run
directory's ``events.jsonl``: that run has ended, and a revert event written
later would stretch it.

With ``watchdog=True`` the journal starts a :class:`loadkit.safety.janitor.Janitor`
at the first inject: if its owner dies, even by ``kill -9``, the janitor
reverts the owner's faults within a second, without anyone's help.

A fault whose subject was started by ``loadkit run`` itself (the built-in
target, the run's fault proxy: ``run_owned``) cannot be reverted once that
run has ended, and needs no revert (the subject died with it); recover
closes such an entry with a note instead of failing on it forever.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from loadkit.errors import LoadkitError
from loadkit.faults.backends.base import BackendContext, BackendSet
from loadkit.faults.model import FaultSpec
from loadkit.rundir.layout import FAULTS_JOURNAL
from loadkit.safety.janitor import Janitor
from loadkit.safety.redact import redact_value

__all__ = [
    "RUN_PID_ENV",
    "RUN_PROXY_API_ENV",
    "RUN_TARGET_INFO_ENV",
    "FaultJournal",
    "RecoverResult",
    "default_index_dir",
    "recover",
    "run_owned",
]

JOURNAL_NAME = FAULTS_JOURNAL
# set by ``loadkit run`` for its Locust processes: what it started itself
RUN_PID_ENV = "LOADKIT_RUN_PID"
RUN_TARGET_INFO_ENV = "LOADKIT_RUN_TARGET_INFO"
RUN_PROXY_API_ENV = "LOADKIT_RUN_PROXY_API"


def default_index_dir() -> Path:
    env = os.environ.get("LOADKIT_FAULTS_INDEX")
    return Path(env) if env else Path.home() / ".loadkit" / "faults"


def _write_atomic(path: Path, lines: Iterable[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.writelines(f"{line}\n" for line in lines)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def read_entries(path: Path) -> list[dict[str, Any]]:
    """The entries of a journal file; a torn or foreign line is skipped."""
    entries: list[dict[str, Any]] = []
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return entries
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and "spec" in entry:
            entries.append(entry)
    return entries


class FaultJournal:
    """The active faults of one run, mirrored to its run dir and the index."""

    def __init__(
        self,
        run_dir: Path | None,
        context: BackendContext,
        index_dir: Path | None = None,
        *,
        watchdog: bool = False,
    ) -> None:
        self.run_dir = run_dir
        self.context = context
        index = index_dir or default_index_dir()
        self.index_path = index / f"{os.getpid()}-{time.time_ns()}.journal"
        self.run_path = run_dir / JOURNAL_NAME if run_dir else None
        self._entries: dict[str, dict[str, Any]] = {}
        self._watchdog = watchdog
        self._janitor: Janitor | None = None
        if self.run_path:
            _write_atomic(self.run_path, [])
        self._watch()  # now, so the first inject does not wait for it

    def _watch(self) -> None:
        """Start the janitor that reverts this journal's faults if this process dies."""
        if self._watchdog and self._janitor is None:
            self._janitor = Janitor().start()
            self._janitor.tell("recover", str(self.index_path))

    def close(self) -> None:
        """The owner ends cleanly: the janitor reverts what is still journaled, now."""
        if self._janitor is not None:
            self._janitor.close()
            self._janitor = None

    def use_run_dir(self, run_dir: Path | None) -> None:
        """Mirror to this run directory from now on (the metrics part makes one per test)."""
        if run_dir is None or run_dir == self.run_dir:
            return
        self.run_dir = run_dir
        self.run_path = run_dir / JOURNAL_NAME
        for entry in self._entries.values():
            entry["run_dir"] = str(run_dir)
        self._flush()

    def add(self, spec: FaultSpec) -> None:
        run_pid = os.environ.get(RUN_PID_ENV, "")
        self._entries[spec.name] = {
            "name": spec.name,
            "spec": redact_value(spec.to_dict()),
            "context": self.context.to_dict(),
            "owner_pid": os.getpid(),
            "run_dir": str(self.run_dir) if self.run_dir else None,
            "injected_at": time.time(),
            "run_pid": int(run_pid) if run_pid.isdigit() else None,
            "run_owned": run_owned(spec, self.context),
        }
        self._flush()

    def remove(self, name: str) -> None:
        if self._entries.pop(name, None) is not None:
            self._flush()

    def active(self) -> list[str]:
        return list(self._entries)

    def _flush(self) -> None:
        lines = [json.dumps(entry, sort_keys=True) for entry in self._entries.values()]
        if self.run_path:
            _write_atomic(self.run_path, lines)
        if lines:
            _write_atomic(self.index_path, lines)
        else:
            self.index_path.unlink(missing_ok=True)


@dataclass
class RecoverResult:
    name: str
    kind: str
    journal: str
    ok: bool
    error: str | None = None
    skipped: str | None = None  # why it was left alone (owner still running)
    note: str | None = None  # why an entry that cannot be reverted was closed


def run_owned(spec: FaultSpec, context: BackendContext) -> bool:
    """True when the fault's subject was started by ``loadkit run`` (it dies with the run)."""
    p = spec.params
    target_info = os.environ.get(RUN_TARGET_INFO_ENV)
    proxy_api = os.environ.get(RUN_PROXY_API_ENV)
    if spec.via == "proxy":
        return bool(proxy_api) and not p.get("api") and context.proxy_api == proxy_api
    if spec.via == "process":
        return bool(target_info) and bool(p.get("target")) and context.target_info == target_info
    if spec.via == "http":
        return (
            bool(target_info)
            and spec.kind != "request"
            and not p.get("url")
            and context.target_info == target_info
        )
    return False


def _gone_with_its_run(entry: dict[str, Any]) -> str | None:
    """A note when the entry's subject ended with the ``loadkit run`` that started it."""
    run_pid = entry.get("run_pid")
    if not entry.get("run_owned") or not isinstance(run_pid, int):
        return None
    if run_pid != os.getpid() and _owner_alive(run_pid):
        return None
    return f"its subject was started by loadkit run (pid {run_pid}) and ended with it"


def _owner_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid == os.getpid():
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _key(entry: dict[str, Any]) -> tuple[Any, Any, Any]:
    return (entry.get("owner_pid"), entry.get("name"), entry.get("injected_at"))


def _recover_entry(entry: dict[str, Any], force: bool, journal: Path) -> RecoverResult:
    spec = FaultSpec.from_dict(entry["spec"])
    if not force and _owner_alive(entry.get("owner_pid")):
        return RecoverResult(
            spec.name,
            spec.kind,
            str(journal),
            False,
            skipped=f"run pid {entry['owner_pid']} still running",
        )
    backends = BackendSet(BackendContext.from_dict(entry.get("context") or {}))
    error: str | None = None
    try:
        backends.revert(spec)
    except LoadkitError as exc:
        error = str(exc)
    except Exception as exc:  # a backend bug must not stop recovering the others
        error = f"{type(exc).__name__}: {exc}"
    if error is not None and (note := _gone_with_its_run(entry)):
        return RecoverResult(spec.name, spec.kind, str(journal), False, error, note=note)
    return RecoverResult(spec.name, spec.kind, str(journal), error is None, error)


def recover(
    index_dir: Path | None = None,
    run_dirs: Iterable[Path] = (),
    *,
    force: bool = False,
    drop_failed: bool = False,
    journals: Iterable[Path] | None = None,
    run_pid: int | None = None,
) -> list[RecoverResult]:
    """Revert faults left active by runs that are no longer running.

    Reads every journal in the index, ``<run_dir>/faults.journal`` of the given
    run dirs and of the runs the index names; each fault is reverted once (the
    newest first) and removed from every copy when its revert succeeded.
    ``force`` also reverts the faults of runs that are still running;
    ``drop_failed`` forgets faults whose revert failed (after reporting them),
    for leftovers that can no longer be reverted (the process is gone).
    ``journals`` names the index journals to read instead of the whole index
    (the janitor of one owner); ``run_pid`` keeps only the entries of that
    ``loadkit run``'s children. Entries closed with a ``note`` are forgotten.
    """
    if journals is not None:
        paths = [Path(p) for p in journals if Path(p).exists()]
    else:
        index = index_dir or default_index_dir()
        paths = sorted(index.glob("*.journal")) if index.is_dir() else []
    paths += [Path(d) / JOURNAL_NAME for d in run_dirs]
    by_file = {path: read_entries(path) for path in paths}
    for entries in list(by_file.values()):
        for entry in entries:
            if entry.get("run_dir"):
                copy = Path(entry["run_dir"]) / JOURNAL_NAME
                if copy not in by_file and copy.exists():
                    by_file[copy] = read_entries(copy)
    unique: dict[tuple[Any, Any, Any], tuple[dict[str, Any], Path]] = {}
    for path, entries in by_file.items():
        for entry in entries:
            if run_pid is None or entry.get("run_pid") == run_pid:
                unique.setdefault(_key(entry), (entry, path))
    ordered = sorted(unique.items(), key=lambda kv: -float(kv[1][0].get("injected_at") or 0))
    results: list[RecoverResult] = []
    resolved: set[tuple[Any, Any, Any]] = set()
    for key, (entry, path) in ordered:
        result = _recover_entry(entry, force, path)
        results.append(result)
        if result.ok or result.note or (drop_failed and result.skipped is None):
            resolved.add(key)
    for path, entries in by_file.items():
        if entries:  # re-read: another recover (a janitor, the run) may have changed it
            _rewrite(path, [e for e in read_entries(path) if _key(e) not in resolved])
    return results


def _rewrite(path: Path, entries: list[dict[str, Any]]) -> None:
    if entries or path.name == JOURNAL_NAME:
        _write_atomic(path, [json.dumps(e, sort_keys=True) for e in entries])
    else:
        path.unlink(missing_ok=True)

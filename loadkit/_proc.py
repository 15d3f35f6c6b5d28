"""Child processes: start with a lifeline, wait for a ready line, stop, reap.

Every process loadkit starts (the target's gateway and agent, the fault
proxy, Locust's master and workers, a restarted process, an ``exec`` fault's
command) goes through :class:`Child`:

- **lifeline**: on Linux the child asks the kernel (``PR_SET_PDEATHSIG``,
  set between fork and exec, kept across exec) for SIGKILL when its parent
  dies, so a ``kill -9`` of loadkit takes its children with it at once. The
  kernel means the parent *thread*: a child started from a short-lived
  thread (an HTTP handler, a timer) would die with that thread, so such
  starts are handed to one spawner thread that lives as long as the process.
  The child also runs in its own session (a Ctrl-C in the terminal reaches loadkit
  only, and :meth:`Child.stop` signals the whole group);
- **ready line**: :meth:`Child.wait_for_line` reads the child's stdout until a
  line starts with a prefix (``api: ``), with a timeout; :meth:`Child.finish`
  waits for a command to end and for all of its output;
- **stop**: SIGTERM (and SIGCONT, a paused child must wake to exit) to the
  group, wait, SIGKILL, and always reap, so no zombie is left and nobody waits
  on one. :func:`stop_pids` is the same sequence for processes known only by
  pid (one a fault restarted, Locust's forked workers).

    child = Child(["python", "-m", "loadkit", "proxy", "--port", "0"], stdout=PIPE)
    child.start()
    api = child.wait_for_line("api: ", timeout_s=60)
    ...
    child.stop()
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from typing import IO, Any

__all__ = ["PIPE", "Child", "alive", "lifeline_preexec", "reap_quietly", "stop_pids"]

PIPE = subprocess.PIPE
DEFAULT_GRACE_S = 10.0
MAX_LINES = 1000  # stdout lines kept (the reader drains the pipe so it never fills)
_PR_SET_PDEATHSIG = 1


def lifeline_preexec(parent_pid: int | None = None) -> Callable[[], None]:
    """A ``preexec_fn`` that makes the child die (SIGKILL) when its parent dies.

    Linux only (elsewhere a no-op). Runs in the forked child before exec; if
    the parent already died in between, the child exits at once.
    """
    parent = os.getpid() if parent_pid is None else parent_pid

    def preexec() -> None:
        if sys.platform.startswith("linux"):
            try:
                libc = ctypes.CDLL(None, use_errno=True)
                libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
            except (OSError, AttributeError):
                return
            if os.getppid() != parent:
                os._exit(1)

    return preexec


class _Spawner:
    """One long-lived thread that forks lifeline children for short-lived threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def run(self, start: Callable[[], Any]) -> Any:
        if threading.current_thread() is threading.main_thread() or _green_threads():
            return start()  # the main thread lives as long as the process (greenlets run in it)
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="spawner", daemon=True)
                self._thread.start()
        done: Future[Any] = Future()
        self._jobs.put((start, done))
        return done.result()

    def _serve(self) -> None:
        while True:
            start, done = self._jobs.get()
            try:
                done.set_result(start())
            except BaseException as exc:
                done.set_exception(exc)


def _green_threads() -> bool:
    """True when gevent patched threading (Locust): every "thread" is a greenlet of the main."""
    monkey = sys.modules.get("gevent.monkey")
    return bool(monkey is not None and monkey.is_module_patched("threading"))


_spawner = _Spawner()


def alive(pid: int) -> bool:
    """True when ``pid`` runs and is not a zombie (a zombie is gone for every purpose)."""
    if pid <= 0:
        return False
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except FileNotFoundError:
        return False
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_quietly(pid: int) -> None:
    """Reap ``pid`` if it is an ended child of ours (no-op otherwise)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def stop_pids(
    pids: Sequence[int], grace_s: float = DEFAULT_GRACE_S, *, reap: bool = True
) -> list[int]:
    """SIGTERM (+SIGCONT) each pid, wait ``grace_s``, SIGKILL those left, wait again.

    For processes known only by pid; a :class:`Child` has :meth:`Child.stop`.
    An ended child of ours is reaped unless ``reap`` is False (when another
    owner reaps it: a zombie counts as ended either way). Signals that cannot
    be sent (gone, not ours) are ignored. Returns the pids still running.
    """
    left = list(pids)
    for signals in ((signal.SIGTERM, signal.SIGCONT), (signal.SIGKILL,)):
        for pid in left:
            for signum in signals:
                with contextlib.suppress(OSError):
                    os.kill(pid, signum)
        deadline = time.monotonic() + grace_s
        while (left := [pid for pid in left if alive(pid)]) and time.monotonic() < deadline:
            time.sleep(0.01)
        if not left:
            break
    if reap:
        for pid in pids:
            reap_quietly(pid)
    return left


class Child:
    """One child process with a lifeline; see the module docstring."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        name: str = "",
        stdout: int | IO[bytes] | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        lifeline: bool = True,
        pass_fds: Sequence[int] = (),
    ) -> None:
        self.argv = list(argv)
        self.name = name or os.path.basename(self.argv[0])
        self.stdout = stdout
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.lifeline = lifeline
        self.pass_fds = tuple(pass_fds)
        self.popen: subprocess.Popen[bytes] | None = None
        self.lines: list[str] = []  # stdout lines read by wait_for_line (when stdout=PIPE)
        self._line_seen = threading.Condition()
        self._reader: threading.Thread | None = None
        self._eof = False

    # -- state -----------------------------------------------------------------

    @property
    def pid(self) -> int:
        return self.popen.pid if self.popen is not None else 0

    @property
    def returncode(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    # -- start -----------------------------------------------------------------

    def start(self) -> Child:
        if self.lifeline:
            self.popen = _spawner.run(self._popen)
        else:
            self.popen = self._popen()
        if self.stdout == PIPE:
            self._reader = threading.Thread(target=self._read, daemon=True, name=self.name)
            self._reader.start()
        return self

    def _popen(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self.stdout,
            stderr=subprocess.STDOUT if self.stdout is not None else None,
            env=self.env,
            cwd=self.cwd,
            start_new_session=True,
            preexec_fn=lifeline_preexec() if self.lifeline else None,
            pass_fds=self.pass_fds,
        )

    def _read(self) -> None:
        assert self.popen is not None and self.popen.stdout is not None
        for raw in self.popen.stdout:
            with self._line_seen:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\r\n"))
                del self.lines[:-MAX_LINES]
                self._line_seen.notify_all()
        with self._line_seen:
            self._eof = True
            self._line_seen.notify_all()
        with contextlib.suppress(OSError):
            self.popen.stdout.close()  # here, not from another thread mid-read

    def wait_for_line(self, prefix: str, timeout_s: float) -> str | None:
        """The first stdout line starting with ``prefix`` (without it); None on timeout or exit."""
        deadline = time.monotonic() + timeout_s
        with self._line_seen:
            while True:
                for line in self.lines:
                    if line.startswith(prefix):
                        return line[len(prefix) :]
                left = deadline - time.monotonic()
                if self._eof or left <= 0:
                    return None
                self._line_seen.wait(min(left, 0.5))

    def last_line(self) -> str:
        with self._line_seen:
            return self.lines[-1] if self.lines else ""

    # -- stop ------------------------------------------------------------------

    def signal(self, signum: int, *, group: bool = False) -> None:
        """Send ``signum`` to the child (or its whole process group) if it still runs."""
        if not self.running():
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if group:
                os.killpg(self.pid, signum)
            else:
                os.kill(self.pid, signum)

    def wait(self, timeout_s: float | None = None) -> int | None:
        """Wait (and reap); the exit code, or None when still running after ``timeout_s``."""
        if self.popen is None:
            return None
        try:
            return self.popen.wait(timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def finish(self, timeout_s: float) -> int | None:
        """Wait for the child to end by itself (reaped) and for the rest of its output; the
        exit code, or None when it still runs after ``timeout_s``. What it left running in
        its group is not signalled (a command may start a daemon)."""
        code = self.wait(timeout_s)
        if code is not None:
            self._close()
        return code

    def stop(self, grace_s: float = DEFAULT_GRACE_S) -> int | None:
        """SIGTERM (+SIGCONT) the group, wait ``grace_s``, then SIGKILL; always reaped."""
        if self.popen is None:
            return None
        if self.running():
            self.signal(signal.SIGTERM, group=True)
            self.signal(signal.SIGCONT, group=True)
            if self.wait(grace_s) is None:
                self.kill()
        code = self.popen.wait()
        self._kill_group_leftovers()
        self._close()
        return code

    def kill(self) -> int | None:
        """SIGKILL the group at once (``kill -9``) and reap."""
        if self.popen is None:
            return None
        self.signal(signal.SIGKILL, group=True)
        code = self.popen.wait()
        self._kill_group_leftovers()
        return code

    def _kill_group_leftovers(self) -> None:
        """Grandchildren left in the child's group (e.g. Locust's --processes) go too."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)

    def _close(self) -> None:
        """Let the stdout reader reach EOF (it closes the pipe); never close it under it."""
        if self._reader is not None:
            self._reader.join(2.0)

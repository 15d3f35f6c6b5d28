"""The built-in target of one ``loadkit run``, started and stopped off the main thread.

Its gateway gets a port chosen up front, so its URL is known at once: the fault
proxy and Locust start while the target starts (Locust waits behind its start
gate, :mod:`loadkit.plugin.gate`, until :meth:`BuiltinTarget.wait_ready`
returned). After the run the target stops in a thread while the report is
written; :meth:`BuiltinTarget.wait_stopped` joins it, so ``loadkit run`` never
exits before its target has stopped and its data folder is gone.

    target = BuiltinTarget(options, janitor)   # starting
    ... start the proxy and Locust with target.url ...
    target.wait_ready()                        # TargetError if it could not start
    ...
    target.stop_in_background()
    ... report ...
    target.wait_stopped()
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loadkit.errors import TargetError
from loadkit.run.locust import free_port

if TYPE_CHECKING:
    from loadkit.safety.janitor import Janitor
    from loadkit.target.launcher import RunningTarget

__all__ = ["BuiltinTarget"]


class BuiltinTarget:
    """Start the built-in target in a thread; ``url`` and ``info`` are known at once."""

    def __init__(self, options: Mapping[str, Any], janitor: Janitor) -> None:
        settings = dict(options)  # validated by the scenario loader
        host = str(settings.pop("host", "127.0.0.1"))
        port = int(settings.pop("port", 0) or 0) or free_port()
        self.data_dir = Path(tempfile.mkdtemp(prefix="loadkit-target-"))
        janitor.tell("remove", str(self.data_dir))
        self.url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
        self.info = self.data_dir / "target.json"
        self._running: RunningTarget | None = None
        self._error: BaseException | None = None
        self._starter = threading.Thread(
            target=self._start, args=(host, port, settings), name="loadkit-target", daemon=True
        )
        self._stopper: threading.Thread | None = None
        self._starter.start()

    def _start(self, host: str, port: int, settings: dict[str, Any]) -> None:
        try:
            from loadkit.target.launcher import start_target

            self._running = start_target(self.data_dir, host=host, port=port, **settings)
        except BaseException as exc:  # handed to the main thread by wait_ready
            self._error = exc

    def wait_ready(self) -> None:
        """Block until the target answers; its start error (TargetError, ConfigError) if not."""
        self._starter.join()
        if self._error is not None:
            raise self._error
        if self._running is None or self._running.url != self.url:
            got = self._running.url if self._running is not None else "nothing"
            raise TargetError(f"the built-in target came up at {got}, not {self.url}")

    def _stop(self, then: Callable[[], None] | None) -> None:
        self._starter.join()  # a start still under way ends (or fails) first
        try:
            if self._running is not None:
                self._running.stop()
        finally:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            if then is not None:
                then()

    def stop_in_background(self, then: Callable[[], None] | None = None) -> None:
        """Begin stopping the target (and removing its data folder), then call ``then``; once."""
        if self._stopper is None:
            self._stopper = threading.Thread(
                target=self._stop, args=(then,), name="loadkit-target-stop"
            )
            self._stopper.start()

    def wait_stopped(self) -> bool:
        """Stop (if not begun) and wait until done; True when the target had started."""
        self.stop_in_background()
        assert self._stopper is not None
        self._stopper.join()
        return self._running is not None

"""Start ``loadkit proxy`` as a child process and stop it again.

For tests, benchmarks and the fault backend when no Toxiproxy runs yet::

    with ProxyProcess() as proxy:          # API on a free loopback port
        client = ToxiproxyClient(proxy.api_url)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import IO

from loadkit.errors import FaultError

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0


class ProxyProcess:
    """A ``loadkit proxy`` child process; ``api_url`` is known once started."""

    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, config: Path | None = None
    ) -> None:
        self.args = [sys.executable, "-m", "loadkit", "proxy", "--host", host, "--port", str(port)]
        if config is not None:
            self.args += ["--config", str(config)]
        self.api_url = ""
        self.process: subprocess.Popen[str] | None = None
        self._stderr: IO[str] | None = None

    def start(self) -> str:
        """Start the process and wait for its ``api: URL`` line; returns the URL."""
        # stderr goes to a file: a pipe nobody reads could fill and stall the proxy
        self._stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (kept open while running)
        self.process = subprocess.Popen(
            self.args, stdout=subprocess.PIPE, stderr=self._stderr, text=True
        )
        first_line: list[str] = []
        reader = threading.Thread(
            target=lambda: first_line.append(self._stdout_line()), daemon=True
        )
        reader.start()
        reader.join(START_TIMEOUT_S)
        line = first_line[0] if first_line else ""
        if not line.startswith("api: "):
            self.stop()
            stderr = self.stderr()
            raise FaultError(f"loadkit proxy did not start: {stderr or line or 'no output'}")
        self.api_url = line.removeprefix("api: ").strip()
        return self.api_url

    def stderr(self) -> str:
        """What the process wrote to stderr so far."""
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().strip()

    def _stdout_line(self) -> str:
        assert self.process is not None and self.process.stdout is not None
        return self.process.stdout.readline()

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after a grace period; returns the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        return self.process.returncode

    def __enter__(self) -> ProxyProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

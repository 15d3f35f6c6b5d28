"""Start ``loadkit proxy`` as a child process and stop it again.

For tests, benchmarks and the fault backend when no Toxiproxy runs yet::

    with ProxyProcess() as proxy:          # API on a free loopback port
        client = ToxiproxyClient(proxy.api_url)

The process is a :class:`loadkit._proc.Child`: it dies with its parent.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from loadkit._proc import PIPE, Child
from loadkit.errors import FaultError

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0


class ProxyProcess:
    """A ``loadkit proxy`` child process; ``api_url`` is known once started."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        config: Path | None = None,
        allow_non_loopback: bool = False,
    ) -> None:
        self.args = [sys.executable, "-m", "loadkit", "proxy", "--host", host, "--port", str(port)]
        if config is not None:
            self.args += ["--config", str(config)]
        if allow_non_loopback:
            self.args.append("--allow-non-loopback")
        self.api_url = ""
        self.child = Child(self.args, name="loadkit-proxy", stdout=PIPE)

    @property
    def pid(self) -> int:
        return self.child.pid

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        return self.child.popen

    def start(self) -> str:
        """Start the process and wait for its ``api: URL`` line; returns the URL."""
        self.child.start()
        api = self.child.wait_for_line("api: ", START_TIMEOUT_S)
        if api is None or not self.child.running():
            self.stop()
            raise FaultError(f"loadkit proxy did not start: {self.stderr() or 'no output'}")
        self.api_url = api.strip()
        return self.api_url

    def stderr(self) -> str:
        """What the process wrote so far, besides its ``api:`` line."""
        return "\n".join(line for line in self.child.lines if not line.startswith("api: ")).strip()

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after a grace period; returns the exit code."""
        return self.child.stop(STOP_TIMEOUT_S)

    def __enter__(self) -> ProxyProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

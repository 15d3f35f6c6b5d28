"""The launcher's control API: process faults ask the owner of the target's processes.

The launcher (``loadkit run``, ``loadkit target``, :func:`start_target`) starts
the gateway and the agent, so only it can reap them: a process killed by
someone else stays a zombie of the launcher, and whoever waits for it to
disappear waits in vain. So the process fault backend does not signal the
target's processes itself for ``kill``, ``terminate``, ``restart`` and their
reverts; it asks the launcher through this small API, named in
``target.json`` (``control: {url, token}``), which acts, reaps and reports
when each step really happened (wall clock)::

    POST /processes/<name>/<kill|terminate|start|restart>[?back_after_s=S]   X-Loadkit-Token: ...
    -> 200 {"name", "action", "signalled_at", "stopped_at", "ready_at", "pid"}

``ready_at`` is when ``GET /health`` answered 200 again. ``back_after_s``
(kill, terminate) has the launcher start the process again by itself so that
it answers ``S`` seconds after the signal (the fault's ``for:``). The server binds
127.0.0.1 only and refuses requests without the token (kept in the
launcher's private data folder).
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["ACTIONS", "TOKEN_HEADER", "ControlServer"]

ACTIONS = ("kill", "terminate", "start", "restart")
TOKEN_HEADER = "X-Loadkit-Token"
SHUTDOWN_POLL_S = 0.05  # how soon close() returns

Act = Callable[[str, str, float | None], dict[str, Any]]


class ControlServer:
    """A threaded HTTP server on 127.0.0.1 calling ``act(name, action)``."""

    def __init__(self, act: Act) -> None:
        self.token = secrets.token_hex(16)
        token = self.token

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                url = urlsplit(self.path)
                parts = url.path.strip("/").split("/")
                back = parse_qs(url.query).get("back_after_s")
                if self.headers.get(TOKEN_HEADER) != token:
                    self._answer(403, {"error": "missing or wrong token"})
                elif len(parts) != 3 or parts[0] != "processes" or parts[2] not in ACTIONS:
                    self._answer(404, {"error": f"no route {self.path}"})
                else:
                    try:
                        back_after_s = float(back[0]) if back else None
                        self._answer(200, act(parts[1], parts[2], back_after_s))
                    except Exception as exc:
                        self._answer(500, {"error": str(exc) or type(exc).__name__})

            def _answer(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        # serve_forever notices a shutdown only at its next poll: 0.5 s by default, which
        # held every `loadkit run`'s target stop (and so its exit) by up to half a second
        self._thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": SHUTDOWN_POLL_S},
            name="target-control",
            daemon=True,
        )

    def start(self) -> ControlServer:
        self._thread.start()
        return self

    def describe(self) -> dict[str, str]:
        return {"url": self.url, "token": self.token}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

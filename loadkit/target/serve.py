"""Run a Starlette app under uvicorn on a socket this process binds itself.

Binding first lets a process asked for port 0 report the port it really got
(written to a port file before serving), and lets a restart reuse the same
port at once (``SO_REUSEADDR``). A watched parent pid makes a process exit by
itself when the launcher that owns it is gone, so no orphan keeps a port.
"""

from __future__ import annotations

import argparse
import errno
import os
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

from loadkit._proc import alive
from loadkit.errors import EXIT_BAD_INPUT, TargetError

__all__ = [
    "add_hold_argument",
    "bind_socket",
    "exit_with_error",
    "hold_until",
    "prepare",
    "serve",
    "write_port_file",
]


def add_hold_argument(parser: argparse.ArgumentParser) -> None:
    """``--hold-until EPOCH``: start now, but bind (come up) only at that wall-clock time."""
    parser.add_argument(
        "--hold-until",
        type=float,
        default=0.0,
        metavar="EPOCH",
        help="wait until this wall-clock time (seconds since the epoch) before binding: "
        "a comeback planned ahead is imported and ready, and answers at that instant "
        "(0 = bind at once)",
    )


def hold_until(wall_time: float) -> None:
    """Sleep until ``wall_time`` (no-op when it is 0 or past): the process stays down till then.

    The launcher plans a killed process's comeback (``for:``) by starting it
    early with this hold, so the slow part of a start (the interpreter and its
    imports, slower still on a busy machine) is done before the planned instant
    and only the bind and the server's start-up remain after it.
    """
    while (delay := wall_time - time.time()) > 0:
        time.sleep(min(delay, 0.5))


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port``; a taken port is a one-line TargetError."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise TargetError(f"port {port} on {host} is already in use; pick another") from None
        raise TargetError(f"cannot bind {host}:{port}: {exc.strerror}") from None
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


def write_port_file(path: Path, port: int) -> None:
    """Write ``port`` atomically (a reader never sees a half-written number)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(f"{port}\n", encoding="ascii")
    os.replace(tmp, path)


def _watch(server: uvicorn.Server, pid: int) -> None:
    while not server.should_exit:
        if not alive(pid):
            server.should_exit = True
            return
        time.sleep(0.5)


KEEP_ALIVE_S = 75  # nginx's default keepalive_timeout


def prepare(app: Any, *, watch_pid: int = 0) -> uvicorn.Server:
    """A uvicorn server for ``app``, loaded (its protocol modules imported) but not serving.

    Loading before binding keeps the time from bind to the first answer short,
    which a comeback planned with ``--hold-until`` relies on.
    """
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=3,
        # Idle keep-alive connections stay open this long (uvicorn's default is 5 s, like
        # Node's). A shorter time closes every idle connection of the clients when the
        # process resumes from a pause longer than it, racing their next request.
        timeout_keep_alive=KEEP_ALIVE_S,
        lifespan="on",
        ws_per_message_deflate=False,  # compression costs ~40% more CPU per WS delivery
    )
    config.load()
    server = uvicorn.Server(config)
    if watch_pid:
        threading.Thread(target=_watch, args=(server, watch_pid), daemon=True).start()
    return server


def serve(server: uvicorn.Server, sock: socket.socket) -> None:
    """Serve on ``sock`` until SIGINT/SIGTERM (or until the watched pid exits)."""
    server.run(sockets=[sock])


def exit_with_error(prog: str, exc: Exception) -> None:
    """Print a one-line error (no traceback) and exit non-zero."""
    print(f"{prog}: error: {exc}", file=sys.stderr, flush=True)
    sys.exit(EXIT_BAD_INPUT)

"""The gateway keeps idle keep-alive connections across a pause longer than uvicorn's 5 s.

With uvicorn's default (5 s), a gateway resumed after a longer pause (``kind: pause``
in gateway-callbacks) closed every idle connection of its clients at once, and a
request sent on one of them just then failed with "connection closed".
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import time
from urllib.parse import urlsplit

from loadkit.target.launcher import RunningTarget
from loadkit.target.serve import KEEP_ALIVE_S

PAUSE_S = 6.0  # longer than uvicorn's default keep-alive


def _closed_by_peer(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False  # nothing to read and no EOF: still open
    finally:
        sock.setblocking(True)


def test_an_idle_connection_survives_a_pause_of_the_gateway(target: RunningTarget) -> None:
    assert KEEP_ALIVE_S > PAUSE_S
    url = urlsplit(target.url)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)
    try:
        conn.request("GET", "/health")
        first = conn.getresponse()
        first.read()
        assert first.status == 200
        gateway = target.processes["gateway"].pid
        os.kill(gateway, signal.SIGSTOP)
        try:
            time.sleep(PAUSE_S)
        finally:
            os.kill(gateway, signal.SIGCONT)
        time.sleep(0.5)  # the resumed gateway runs its due timers
        assert conn.sock is not None
        assert not _closed_by_peer(conn.sock), "the gateway closed an idle connection"
        conn.request("GET", "/health")
        again = conn.getresponse()
        again.read()
        assert again.status == 200
    finally:
        conn.close()

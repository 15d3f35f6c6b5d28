"""A loopback HTTP server that stalls at the end of a run (for the open-model tests).

    python stall_server.py LOG STALL_FROM_S HOLD_S SLOPE BASE_MS

Times are seconds since the first request. A request arriving at ``a`` before
STALL_FROM_S is answered after BASE_MS; from STALL_FROM_S on, the server stalls:
it holds each request for HOLD_S + SLOPE * (a - STALL_FROM_S) seconds (the later,
the longer: answers come out spread, never in one burst that the client would
take time to read). Each arrival is appended to LOG (seconds since the first
request, one per line) before it is answered, so the test knows every request the
server received. Prints ``port: N`` once listening; ends on SIGTERM.
"""

from __future__ import annotations

import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOG = sys.argv[1]
STALL_FROM_S, HOLD_S, SLOPE, BASE_MS = (float(x) for x in sys.argv[2:6])
_lock = threading.Lock()
_first: list[float] = []


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed ACK

    def do_GET(self) -> None:
        now = time.monotonic()
        with _lock:
            if not _first:
                _first.append(now)
            arrived = now - _first[0]
            with open(LOG, "a") as log:
                log.write(f"{arrived:.6f}\n")
        if arrived >= STALL_FROM_S:
            hold = HOLD_S + SLOPE * (arrived - STALL_FROM_S)
        else:
            hold = BASE_MS / 1000.0
        time.sleep(max(0.0, now + hold - time.monotonic()))
        body = b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer.request_queue_size = 512
server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(f"port: {server.server_address[1]}", flush=True)
server.serve_forever()

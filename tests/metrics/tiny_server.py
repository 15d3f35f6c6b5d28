"""A tiny HTTP server for the metrics tests (stdlib only, 127.0.0.1, port 0).

GET /fast -> 200; GET /slow?ms=N -> 200 after N ms; GET /fail -> 500.
Prints ``port: N`` on stdout once listening.
"""

from __future__ import annotations

import contextlib
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        status = 200
        if url.path == "/slow":
            query = urllib.parse.parse_qs(url.query)
            time.sleep(int(query.get("ms", ["20"])[0]) / 1000)
        elif url.path == "/fail":
            status = 500
        elif url.path != "/fast":
            status = 404
        body = b"ok\n"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients killed mid-request (kill -9 tests) reset their connections


def main() -> None:
    server = QuietServer(("127.0.0.1", 0), Handler)
    print(f"port: {server.server_address[1]}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())

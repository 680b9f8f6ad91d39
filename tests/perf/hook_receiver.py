"""The webhook bench's receiver, a process of its own: answers every POST 200 at once over
HTTP/1.1 (keep-alive, as receivers commonly do) and notes each webhook-id's first arrival.

In its own process so its work is not taken from the process that measures (or from the
reference loop in it), and its CPU is counted on its own. `python -m tests.perf.hook_receiver
PORT`; GET /count, GET /arrivals and POST /reset are for the bench.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

arrivals: dict[str, float] = {}
sample = [b"{}"]
lock = threading.Lock()


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # listen()'s backlog: the default 5 drops connections under load


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.path == "/reset":
            with lock:
                arrivals.clear()
            self.answer(b"")
            return
        now = time.time()
        with lock:
            arrivals.setdefault(self.headers.get("webhook-id", ""), now)
            sample[0] = body
        self.answer(b"")

    def do_GET(self) -> None:
        with lock:
            if self.path == "/count":
                document: Any = {"count": len(arrivals), "last": max(arrivals.values(), default=0)}
            elif self.path == "/sample":
                document = {"body": sample[0].decode()}
            else:
                document = dict(arrivals)
        self.answer(json.dumps(document).encode())

    def answer(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass  # one line per request would cost more than the answer


if __name__ == "__main__":
    server = Server(("127.0.0.1", int(sys.argv[1])), Handler)
    print("listening", flush=True)
    server.serve_forever()

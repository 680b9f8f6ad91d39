"""A webhook receiver on loopback whose answers a test scripts, and which records every request."""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# What the receiver does for one request: answer a status, or run a callable that writes the
# answer itself (to block, to stream, to redirect).
Behaviour = int | Callable[[BaseHTTPRequestHandler], None]


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    peer: tuple = ()  # the sender's (address, port): one per connection


class Receiver:
    def __init__(self, port: int = 0) -> None:
        """On `port` (0: any free one); a receiver closed and started again on its port is a
        receiver that was down for a while."""
        self.received: list[Received] = []
        self._scripts: dict[str, deque[Behaviour]] = defaultdict(deque)
        self._arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                with receiver._arrived:
                    receiver.received.append(
                        Received(
                            self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            body,
                            tuple(self.client_address),
                        )
                    )
                    receiver._arrived.notify_all()
                script = receiver._scripts[self.path]
                behaviour = script.popleft() if script else 200
                if callable(behaviour):
                    behaviour(self)
                else:
                    answer(self, behaviour)

            def log_message(self, *_: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def script(self, path: str, *behaviours: Behaviour) -> None:
        self._scripts[path].extend(behaviours)

    def requests_to(self, path: str) -> list[Received]:
        with self._arrived:
            return [request for request in self.received if request.path == path]

    def wait_for(self, path: str, count: int = 1, timeout: float = 10.0) -> list[Received]:
        with self._arrived:
            self._arrived.wait_for(
                lambda: len([r for r in self.received if r.path == path]) >= count, timeout
            )
        return self.requests_to(path)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def answer(handler: BaseHTTPRequestHandler, status: int, headers: dict[str, str] | None = None):
    handler.send_response(status)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.send_header("content-length", "0")
    handler.end_headers()

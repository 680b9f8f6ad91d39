"""The relay's and the worker's own HTTP port: /metrics, /healthz and /readyz (METRICS_PORT).

/healthz says the process runs; /readyz says it can do its work now (its database and its
broker answer); /metrics is Prometheus' text format from the process's registry.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from sqlalchemy import Engine, text

from shared.db import DatabaseUnavailable, translate_errors

log = logging.getLogger(__name__)


class Readiness:
    """What /readyz checks: the database on each call, the broker as the loop last saw it."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._broker = threading.Event()

    def broker_connected(self, connected: bool) -> None:
        if connected:
            self._broker.set()
        else:
            self._broker.clear()

    def problems(self) -> list[str]:
        found = []
        try:
            with translate_errors(), self._engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except DatabaseUnavailable:
            found.append("database unreachable")
        if not self._broker.is_set():
            found.append("broker unreachable")
        return found


def serve_health(port: int, readiness: Readiness) -> ThreadingHTTPServer:
    """Serve on 0.0.0.0:port from a daemon thread until shutdown()."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._answer(200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                self._answer(200, b'{"status": "ok"}\n', "application/json")
            elif path == "/readyz":
                problems = readiness.problems()
                body = json.dumps({"status": "; ".join(problems) or "ready"}).encode()
                self._answer(503 if problems else 200, body, "application/json")
            else:
                self._answer(404, b'{"status": "not found"}\n', "application/json")

        def _answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass  # a probe every few seconds is not an event

    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="health", daemon=True).start()
    log.info("health.serving port=%d", server.server_address[1])
    return server


def start_if_configured(port: int | None, readiness: Readiness) -> Callable[[], None]:
    """Serve when a port is set; returns what stops it."""
    if port is None:
        return lambda: None
    server = serve_health(port, readiness)
    return server.shutdown

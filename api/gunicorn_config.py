"""gunicorn -c python:api.gunicorn_config 'api.app:create_app()': how the API is served, in
one place (compose, Kubernetes, the image and the local run name only this file).

It checks the configuration once, in the master, before any worker starts: without that, a
bad setting fails inside every worker's boot with a traceback, and gunicorn ends with "Worker
failed to boot". Here it is one line naming the variable, and exit code 2. It sets up metrics
for several workers, and gunicorn's own lines take the format of every other line
(LOG_FORMAT=json: one JSON object each).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

from gunicorn import glogging

from shared.config import (
    ConfigError,
    exit_on_config_error,
    requested_log_format,
    settings_or_exit,
)
from shared.logs import formatter_for

bind = "0.0.0.0:8000"
workers = 4
# Threaded workers whose connections get a thread only once their request head is whole
# (api/gunicorn_worker.py): with sync workers, four clients sending a byte a second took every
# worker, health probes included; with plain gthread, one per thread. The threads are for
# requests that wait on PostgreSQL or S3, and for bodies (64 KiB at most) sent slowly.
worker_class = "api.gunicorn_worker.HeadFirstWorker"
threads = 32
keepalive = 5  # seconds an idle kept-alive connection waits on the event loop, holding no thread
timeout = 30  # seconds a worker may go silent before the master replaces it
graceful_timeout = 30  # seconds, after SIGTERM, for the requests in hand
# A worker is replaced after this many requests (spread, so that not all at once): whatever
# a long life leaks goes with it.
max_requests = 5000
max_requests_jitter = 500
# gunicorn's defaults, written down: a request line or header beyond them is a 400 at once.
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190


class Logger(glogging.Logger):
    """gunicorn's own lines ("Starting gunicorn", "Booting worker", the access log) in
    Reportbox's format."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        # Before the settings are checked (on_starting): a bad one is said in this format too.
        formatter = formatter_for("api", requested_log_format())
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(formatter)


logger_class = Logger


def on_starting(server: Any) -> None:
    settings = settings_or_exit()
    try:
        settings.token_key()  # the API cannot verify a single token without it
        from api.auth import TokenVerifier

        TokenVerifier(settings)
    except ConfigError as error:
        exit_on_config_error(error)
    # Before any worker forks (and before prometheus_client is imported anywhere): every
    # worker writes its samples to files here, and /metrics adds them up.
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        shutil.rmtree(folder, ignore_errors=True)  # samples of an earlier run are not ours
        os.makedirs(folder, exist_ok=True)
    else:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="reportbox-metrics-")


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)

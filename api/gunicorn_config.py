"""gunicorn -c python:api.gunicorn_config 'api.app:create_app()': checks the configuration
once, in the master, before any worker starts, and sets up metrics for several workers.

Without it, a bad setting fails inside every worker's boot with a traceback, and gunicorn
ends with "Worker failed to boot". Here it is one line naming the variable, and exit code 2.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

from shared.config import ConfigError, exit_on_config_error, settings_or_exit


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

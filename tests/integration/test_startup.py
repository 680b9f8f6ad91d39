"""A missing or malformed setting stops a process at start: exit code 2 and one line naming the
variable, never a traceback, for gunicorn as for the relay and the worker."""

from __future__ import annotations

import subprocess
import sys

import pytest

from infra.local.processes import ROOT, api_argv

RELAY = [sys.executable, "-m", "relay"]
WORKER = [sys.executable, "-m", "worker"]
API = api_argv("127.0.0.1:0", workers=1)
SECRET = "s" * 32


@pytest.mark.parametrize(
    ("argv", "environ", "line"),
    [
        pytest.param(
            WORKER, {"WORKER_CONCURRENCY": "abc"}, "WORKER_CONCURRENCY='abc' is not an integer",
            id="worker",
        ),
        pytest.param(
            RELAY, {"RELAY_POLL_SECONDS": "soon"}, "RELAY_POLL_SECONDS='soon' is not a number",
            id="relay",
        ),
        pytest.param(
            RELAY, {"LOG_FORMAT": "xml"}, "LOG_FORMAT='xml' is not one of", id="log format"
        ),
        pytest.param(
            API, {"JWT_SECRET": SECRET, "MAX_ACTIVE_REPORTS_PER_USER": "many"},
            "MAX_ACTIVE_REPORTS_PER_USER='many' is not an integer", id="gunicorn",
        ),
        pytest.param(API, {}, "verifies tokens with JWT_SECRET", id="gunicorn without a key"),
        pytest.param(
            API, {"JWT_PUBLIC_KEY": "not a pem"}, "JWT_PUBLIC_KEY is not a PEM public key",
            id="gunicorn with a bad key",
        ),
    ],
)  # fmt: skip
def test_a_bad_setting_stops_the_start_with_one_line_and_exit_code_2(argv, environ, line):
    env = {"PATH": "/usr/bin:/bin", **environ}

    finished = subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )

    assert finished.returncode == 2, finished.stderr
    errors = [text for text in finished.stderr.splitlines() if "configuration error" in text]
    assert len(errors) == 1 and line in errors[0], finished.stderr
    assert "Traceback" not in finished.stderr

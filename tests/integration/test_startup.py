"""A missing or malformed setting stops a process at start: exit code 2 and one line naming the
variable, never a traceback, for gunicorn as for the relay and the worker."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from infra.local.processes import ROOT, api_argv

RELAY = [sys.executable, "-m", "relay"]
WORKER = [sys.executable, "-m", "worker"]
API = api_argv("127.0.0.1:0", workers=1)
SECRET = "s" * 32
NOT_A_URL = "::not a url::"


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
            API, {"JWT_SECRET": SECRET, "DATABASE_URL": NOT_A_URL},
            "DATABASE_URL is not a database URL", id="gunicorn database url",
        ),
        pytest.param(
            RELAY, {"DATABASE_URL": NOT_A_URL}, "DATABASE_URL is not a database URL",
            id="relay database url",
        ),
        pytest.param(
            WORKER, {"DATABASE_URL": NOT_A_URL}, "DATABASE_URL is not a database URL",
            id="worker database url",
        ),
        pytest.param(
            RELAY, {"RABBITMQ_URL": NOT_A_URL}, "RABBITMQ_URL must be a URL", id="relay broker url"
        ),
        pytest.param(
            WORKER, {"RABBITMQ_URL": "amqp://127.0.0.1:notaport/"}, "RABBITMQ_URL is not a URL",
            id="worker broker port",
        ),
        pytest.param(
            RELAY, {"RELAY_BATCH_SIZE": "0"}, "RELAY_BATCH_SIZE=0 must be at least 1",
            id="relay batch size",
        ),
        pytest.param(
            RELAY, {"RELAY_POLL_SECONDS": "0"}, "RELAY_POLL_SECONDS=0.0 must be above 0",
            id="relay poll seconds",
        ),
        pytest.param(
            API, {"JWT_SECRET": SECRET, "MAX_ACTIVE_REPORTS_PER_USER": "-1"},
            "MAX_ACTIVE_REPORTS_PER_USER=-1 must be at least 1", id="gunicorn max active",
        ),
        pytest.param(
            API, {"JWT_SECRET": SECRET, "DOWNLOAD_URL_TTL_SECONDS": "604801"},
            "DOWNLOAD_URL_TTL_SECONDS=604801 must be between 1 and 604800",
            id="gunicorn download ttl",
        ),
        pytest.param(
            WORKER, {"REPORT_RETENTION_HOURS": "0"}, "REPORT_RETENTION_HOURS=0.0 must be above 0",
            id="worker retention",
        ),
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


@pytest.mark.parametrize("argv", [API, RELAY, WORKER], ids=["gunicorn", "relay", "worker"])
def test_with_json_logs_the_one_line_is_a_json_object_too(argv):
    env = {"PATH": "/usr/bin:/bin", "LOG_FORMAT": "json", "JWT_SECRET": SECRET}
    env["DATABASE_URL"] = NOT_A_URL

    finished = subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )

    assert finished.returncode == 2, finished.stderr
    lines = [json.loads(line) for line in (finished.stdout + finished.stderr).splitlines()]
    errors = [line for line in lines if line["event"] == "config.error"]
    assert len(errors) == 1, lines
    assert "DATABASE_URL is not a database URL" in errors[0]["message"]

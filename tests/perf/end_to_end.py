"""End to end, one 1,000-row report at a time: POST -> Completed, 50 times, p50 and p95.

gunicorn, `python -m relay` and `python -m worker` run as in production; the client posts
one report, polls GET /reports/{id} every POLL_SECONDS until it is Completed, then posts
the next. Goal: p50 <= 300 ms, p95 <= 600 ms.
"""

from __future__ import annotations

import http.client
import json
import statistics
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg

from shared.config import Settings
from shared.db import libpq_url
from tests.perf.cpu import CpuShares, format_shares, pids_of
from tests.perf.notify_latency import wait_until_listening
from tests.perf.rounds import scaled
from tests.perf.servers import gunicorn
from tests.perf.small_drain import wait_for_consumers
from tests.perf.stack import ORG, clear_reports, make_token, purge_work_queue
from tests.perf.table import Line, verdict
from tests.perf.tokens import FIRST_DAY
from tests.processes import start_relay, start_worker

REPORTS = scaled(50, 10)
TARGET_ROWS = 1000
POLL_SECONDS = 0.01
GIVE_UP_SECONDS = 60
DEVICE = "ios"


def window_days(settings: Settings) -> int:
    """How many days of one device's sessions make about TARGET_ROWS rows here."""
    with psycopg.connect(libpq_url(settings.source_database_url)) as connection:
        count = connection.execute(
            "SELECT count(*) FROM demo.sessions WHERE org = %s AND device = %s", (ORG, DEVICE)
        ).fetchone()[0]
    return max(1, round(TARGET_ROWS / (count / 365)))


def one_report(connection: http.client.HTTPConnection, settings: Settings, days: int, n: int):
    first = FIRST_DAY + timedelta(days=n % (365 - days))
    body = {
        "format": "csv",
        "parameters": {
            "fromDate": str(first),
            "toDate": str(first + timedelta(days=days - 1)),
            "device": DEVICE,
        },
    }
    headers = {"Authorization": f"Bearer {make_token(settings)}"}
    started = time.perf_counter()
    connection.request(
        "POST",
        "/api/v1/reports/sessions",
        json.dumps(body),
        {**headers, "Content-Type": "application/json"},
    )
    response = connection.getresponse()
    answer = json.loads(response.read())
    if response.status != 202:
        raise RuntimeError(f"POST answered {response.status}: {answer}")
    deadline = time.monotonic() + GIVE_UP_SECONDS
    while time.monotonic() < deadline:
        connection.request("GET", f"/api/v1/reports/{answer['reportId']}", headers=headers)
        response = connection.getresponse()
        report = json.loads(response.read())
        if report["status"] == "Completed":
            return (time.perf_counter() - started) * 1000, report
        if report["status"] in ("Failed", "Cancelled", "Expired"):
            raise RuntimeError(f"report ended {report['status']}: {report}")
        time.sleep(POLL_SECONDS)
    raise RuntimeError(f"report {answer['reportId']} not Completed in {GIVE_UP_SECONDS} s")


def measure(settings: Settings, work_dir: Path) -> dict[str, Any]:
    clear_reports(settings)
    purge_work_queue(settings)
    days = window_days(settings)
    relay = start_relay(settings, work_dir, name="relay-e2e")
    worker = start_worker(settings, work_dir, name="worker-e2e")
    latencies, rows = [], []
    try:
        with gunicorn("api-e2e", None, settings, work_dir) as api:
            wait_until_listening(settings, timeout=60)
            wait_for_consumers(settings, 1)
            connection = http.client.HTTPConnection("127.0.0.1", api.port, timeout=30)
            one_report(connection, settings, days, REPORTS)  # warm-up, not counted
            groups = {
                "api": lambda: pids_of(api.process.pid),
                "relay": lambda: pids_of(relay.pid),
                "worker": lambda: pids_of(worker.pid),
            }
            with CpuShares(groups) as cpu:
                for n in range(REPORTS):
                    latency, report = one_report(connection, settings, days, n)
                    latencies.append(latency)
                    rows.append(report["file"]["rows"])
            connection.close()
    finally:
        codes = [process.stop() for process in (relay, worker)]
        clear_reports(settings)
    if any(codes):
        raise RuntimeError(f"relay and worker exit codes {codes}")
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "reports": REPORTS,
        "days": days,
        "device": DEVICE,
        "mean_rows": round(statistics.mean(rows), 1),
        "p50_ms": round(cuts[49], 2),
        "p95_ms": round(cuts[94], 2),
        "max_ms": round(max(latencies), 2),
        "cpu": cpu.shares(),
    }


def lines(data: dict[str, Any]) -> list[Line]:
    met = data["p50_ms"] <= 300 and data["p95_ms"] <= 600
    return [
        Line(
            f"POST -> Completed, {data['reports']} reports of ~{data['mean_rows']:,.0f} rows",
            f"p50 {data['p50_ms']:.0f} / p95 {data['p95_ms']:.0f} ms (max {data['max_ms']:.0f})",
            f"{data['days']} days of {data['device']} sessions each",
            "",
            verdict(met),
            "p50 <= 300, p95 <= 600 ms",
        ),
        Line("  CPU (cores)", format_shares(data["cpu"])),
    ]

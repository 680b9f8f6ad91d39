"""What a Prometheus scrape of the API's /metrics costs the database, at 10 scrapes a second.

Counted by PostgreSQL itself: pg_stat_database's xact_commit + xact_rollback for the bench
database, whose only client during this step is the API (each /metrics read of the
database is one transaction: a pooled connection's checkout, its statement, the rollback
on return), and tup_returned + tup_fetched, the rows those statements read. A backend
reports its counts when it exits, so the API is stopped before the counters are read.
gunicorn is waited for on its port, not /readyz (which would query the database too).

A: METRICS_CACHE_SECONDS at its default (15): one read per window, however many scrapes and
whichever gunicorn worker answers. B, the reference: 0, a read at every scrape, as every
scrape did before (then over every report ever made).
"""

from __future__ import annotations

import http.client
import time
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import make_url

from infra.local.processes import ManagedProcess, api_argv, free_port, wait_for_port
from shared.config import Settings
from shared.db import libpq_url
from tests.perf.servers import API_WORKERS
from tests.perf.table import Line
from tests.processes import process_env

RATE = 10.0  # scrapes a second
SECONDS = 20.0
COUNTERS = """
    SELECT xact_commit + xact_rollback AS transactions, tup_returned + tup_fetched AS tuples
    FROM pg_stat_database WHERE datname = %s
"""


def database_counters(settings: Settings) -> tuple[int, int]:
    """From the server's own database, so reading them adds nothing to the bench's."""
    url = make_url(settings.database_url)
    with psycopg.connect(libpq_url(url.set(database="postgres").render_as_string(False))) as db:
        db.execute("SELECT pg_stat_clear_snapshot()")
        row = db.execute(COUNTERS, (url.database,)).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def settled_counters(settings: Settings, timeout: float = 15.0) -> tuple[int, int]:
    """The counters once they stop moving (exited backends' counts arrive a moment later)."""
    deadline = time.monotonic() + timeout
    last = database_counters(settings)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = database_counters(settings)
        if now == last:
            return now
        last = now
    return last


def scrape_at_rate(port: int, rate: float, seconds: float) -> int:
    interval, scrapes = 1 / rate, 0
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/metrics")
        response = connection.getresponse()
        response.read()
        connection.close()
        if response.status != 200:
            raise RuntimeError(f"/metrics answered {response.status}")
        scrapes += 1
        time.sleep(max(0.0, scrapes * interval - (time.monotonic() - started)))
    return scrapes


def one_run(settings: Settings, log_dir: Path, cache_seconds: float) -> dict[str, Any]:
    before = settled_counters(settings)
    port = free_port()
    process = ManagedProcess(
        f"api-scrape-{cache_seconds:g}",
        api_argv(f"127.0.0.1:{port}", API_WORKERS),
        process_env(settings.with_overrides(metrics_cache_seconds=cache_seconds)),
        log_dir,
    )
    try:
        wait_for_port(port, process)
        scrapes = scrape_at_rate(port, RATE, SECONDS)
    finally:
        code = process.stop()
    if code != 0:
        raise RuntimeError(f"the API exited with {code}:\n{process.log()[-3000:]}")
    after = settled_counters(settings)
    return {
        "cache_seconds": cache_seconds,
        "scrapes": scrapes,
        "transactions": after[0] - before[0],
        "rows_read": after[1] - before[1],
    }


def measure(settings: Settings, log_dir: Path) -> dict[str, Any]:
    with psycopg.connect(libpq_url(settings.database_url)) as db:
        reports = db.execute("SELECT count(*) FROM reports").fetchone()
    return {
        "reports_in_table": int(reports[0]) if reports else 0,
        "cached": one_run(settings, log_dir, Settings.metrics_cache_seconds),
        "uncached": one_run(settings, log_dir, 0.0),
    }


def lines(result: dict[str, Any]) -> list[Line]:
    cached, uncached = result["cached"], result["uncached"]

    def per_scrape(run: dict[str, Any], key: str) -> float:
        return run[key] / max(run["scrapes"], 1)

    return [
        Line(
            f"DB transactions per scrape, {RATE:g}/s for {SECONDS:g} s, "
            f"{API_WORKERS} gunicorn workers (a read is 2: pool pre-ping, query)",
            f"{per_scrape(cached, 'transactions'):.3f} ({cached['transactions']} in "
            f"{cached['scrapes']} scrapes, METRICS_CACHE_SECONDS={cached['cache_seconds']:g})",
            f"{per_scrape(uncached, 'transactions'):.3f} (METRICS_CACHE_SECONDS=0)",
            goal=f"at most one per {Settings.metrics_cache_seconds:g} s",
        ),
        Line(
            "  rows PostgreSQL read per scrape (with new connections' catalog reads)",
            f"{per_scrape(cached, 'rows_read'):.1f}",
            f"{per_scrape(uncached, 'rows_read'):.1f}",
        ),
        Line("  reports in the table (all statuses)", f"{result['reports_in_table']:,}"),
    ]

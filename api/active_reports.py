"""Reports in flight by status, type and format, for the API's /metrics, read from the
database at most once per METRICS_CACHE_SECONDS however often /metrics is scraped.

Under gunicorn the figure is kept in a file in PROMETHEUS_MULTIPROC_DIR, under an exclusive
flock: whichever worker answers a scrape reads it there, and the one that finds it stale
queries while the others wait for its answer instead of asking the database themselves. How
many reports each process completed, failed... are counters (shared/report_counters.py):
nothing here counts the history.
"""

from __future__ import annotations

import fcntl
import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, text

from shared.db import DatabaseUnavailable, translate_errors

log = logging.getLogger(__name__)

# Served by the partial index reports_active_request (status IN ('Pending', 'Processing')):
# its cost follows the reports in flight, never the reports ever made.
ACTIVE_COUNTS = text(
    """
    SELECT status, report_type, format, count(*) AS n FROM reports
    WHERE status IN ('Pending', 'Processing')
    GROUP BY 1, 2, 3
    """
)

CACHE_FILE = "active-reports.json"  # beside the samples; MultiProcessCollector reads only *.db

Rows = list[list[Any]]  # [status, type, format, count]


def is_fresh(taken_at: float | None, now: float, max_age: float) -> bool:
    """A figure taken less than max_age ago (never one from a clock that went back)."""
    return taken_at is not None and 0 <= now - taken_at < max_age


class ActiveReports:
    """The cached figure: `rows()` is None while the database could not be read."""

    def __init__(self, engine: Engine, max_age: float, folder: Path | None) -> None:
        self._engine = engine
        self._max_age = max_age
        self._path = folder / CACHE_FILE if folder is not None else None
        self._lock = threading.Lock()  # one process alone: the development server, the tests
        self._taken_at: float | None = None
        self._rows: Rows | None = None

    def rows(self) -> Rows | None:
        if self._path is None:
            with self._lock:
                now = time.monotonic()  # one clock for every process of the machine
                if not is_fresh(self._taken_at, now, self._max_age):
                    self._taken_at, self._rows = now, self._query()
                return self._rows
        with open(self._path, "a+") as file:
            fcntl.flock(file, fcntl.LOCK_EX)  # released when the file closes
            file.seek(0)
            cached = _decode(file.read())
            now = time.monotonic()
            if is_fresh(cached.get("taken_at"), now, self._max_age):
                return cached.get("rows")
            rows = self._query()
            file.truncate(0)
            file.write(json.dumps({"taken_at": now, "rows": rows}))
            return rows

    def _query(self) -> Rows | None:
        try:
            with translate_errors(), self._engine.connect() as connection:
                return [list(row) for row in connection.execute(ACTIVE_COUNTS)]
        except DatabaseUnavailable as exc:
            # Kept for the window too: a database that is away is not asked at every scrape.
            log.warning("metrics.reports_unavailable error=%s", exc)
            return None


def _decode(raw: str) -> dict[str, Any]:
    try:
        cached = json.loads(raw) if raw else {}
    except ValueError:
        return {}  # a worker killed mid-write: take the figure again
    return cached if isinstance(cached, dict) else {}


class ActiveReportsCollector(Collector):
    def __init__(self, active: ActiveReports) -> None:
        self._active = active

    def collect(self) -> Iterator[Metric]:
        rows = self._active.rows()
        if rows is None:
            return
        family = GaugeMetricFamily(
            "reportbox_reports",
            "Reports in flight (Pending, Processing) by status, type and format.",
            labels=["status", "type", "format"],
        )
        for status, report_type, report_format, count in rows:
            family.add_metric([status, report_type, report_format], count)
        yield family

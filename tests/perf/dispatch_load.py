"""What the dispatcher's two bars share: the dispatcher process, reports the worker's own
lifecycle completes at a steady rate, and the percentiles of what arrived."""

from __future__ import annotations

import contextlib
import statistics
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg

from shared.config import Settings
from shared.db import libpq_url, make_engine
from shared.deliveries.rows import CHANNEL as DELIVERIES_CHANNEL
from shared.storage import UploadedObject
from shared.webhooks.messages import CHANNEL as WEBHOOKS_CHANNEL
from tests.processes import Process, start_dispatcher
from worker.lifecycle import Claim, Lifecycle

GIVE_UP_SECONDS = 300
POLL_SECONDS = 0.05

# Reports as a worker holds them just before it completes them: Processing, attempt 1.
INSERT_PROCESSING = """
    INSERT INTO reports (id, org, owner_id, report_type, format, parameters, status, attempts,
                         request_hash, definition_id, trigger)
    SELECT id, %(org)s, 'bench-owner', 'sessions', 'csv', '{}', 'Processing', 1, md5(id::text),
           %(definition_id)s, %(trigger)s
    FROM unnest(%(ids)s::uuid[]) AS id
"""


def connect(settings: Settings) -> psycopg.Connection:
    return psycopg.connect(libpq_url(settings.database_url), autocommit=True)


def insert_processing(
    settings: Settings, org: str, count: int, definition_id: uuid.UUID | None = None
) -> list[uuid.UUID]:
    ids = [uuid.uuid4() for _ in range(count)]
    with connect(settings) as connection:
        connection.execute(
            INSERT_PROCESSING,
            {
                "org": org,
                "ids": ids,
                "definition_id": definition_id,
                "trigger": "schedule" if definition_id else "request",
            },
        )
    return ids


def wait_until_listening(settings: Settings, timeout: float = 60.0) -> None:
    """The dispatcher LISTENs on both channels once its loops run."""
    query = """
        SELECT count(*) FILTER (WHERE query = %s), count(*) FILTER (WHERE query = %s)
        FROM pg_stat_activity WHERE datname = current_database()
    """
    listens = (f"LISTEN {WEBHOOKS_CHANNEL}", f"LISTEN {DELIVERIES_CHANNEL}")
    deadline = time.monotonic() + timeout
    with connect(settings) as connection:
        while time.monotonic() < deadline:
            if min(connection.execute(query, listens).fetchone()) >= 1:
                return
            time.sleep(POLL_SECONDS)
    raise RuntimeError(f"the dispatcher did not start listening within {timeout} s")


@contextlib.contextmanager
def dispatcher(settings: Settings, work_dir: Path) -> Iterator[Process]:
    """`python -m dispatcher`, listening; stopped (and its exit checked) afterwards."""
    process = start_dispatcher(settings, work_dir, f"dispatcher-{uuid.uuid4().hex[:6]}")
    try:
        wait_until_listening(settings)
        yield process
    finally:
        code = process.stop()
        if code != 0:
            raise RuntimeError(f"the dispatcher exited with {code}:\n{process.log()[-3000:]}")


def complete_at_rate(
    settings: Settings, report_ids: list[uuid.UUID], rate: float, uploaded: UploadedObject
) -> int:
    """Complete each report through the worker's Lifecycle.complete (its webhook event and
    deliveries in the same transaction), `rate` a second on an open-loop schedule; how many
    started late by more than one interval."""
    engine = make_engine(settings)
    lifecycle = Lifecycle(engine, lease_seconds=60, retention_seconds=86400)
    late = 0
    started = time.perf_counter()
    try:
        for number, report_id in enumerate(report_ids):
            due = started + number / rate
            ahead = due - time.perf_counter()
            if ahead > 0:
                time.sleep(ahead)
            elif -ahead > 1 / rate:
                late += 1
            claim = Claim(report_id, "", "sessions", "csv", {}, attempt=1, cancel_requested=False)
            # A name of its own per run, as a schedule's dated names are: two uploads of one
            # name to one SFTP folder at once race on its .part file.
            name = f"report-{number}.csv"
            if not lifecycle.complete(claim, uploaded, name, "text/csv", 1000):
                raise RuntimeError(f"report {report_id} was not completed")
    finally:
        engine.dispose()
    return late


def wait_for_count(
    settings: Settings,
    query: str,
    params: dict[str, Any],
    count: int,
    timeout: float = GIVE_UP_SECONDS,
) -> int:
    """Poll `query` (one count) until it reaches `count` or `timeout` passes; the count."""
    deadline = time.monotonic() + timeout
    with connect(settings) as connection:
        while True:
            seen = connection.execute(query, params).fetchone()[0]
            if seen >= count or time.monotonic() > deadline:
                return seen
            time.sleep(POLL_SECONDS)


def percentiles_ms(seconds: list[float]) -> dict[str, float]:
    if not seconds:
        return {"p50_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0}
    cuts = statistics.quantiles(seconds, n=100, method="inclusive") if len(seconds) > 1 else []
    p50 = statistics.median(seconds)
    p99 = cuts[98] if cuts else seconds[0]
    return {
        "p50_ms": round(p50 * 1000, 1),
        "p99_ms": round(p99 * 1000, 1),
        "max_ms": round(max(seconds) * 1000, 1),
    }

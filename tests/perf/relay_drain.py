"""The relay draining 100,000 outbox rows, against raw pika publishing the same bodies.

A is `python -m relay` as it runs in production: from the commit that makes the rows
unpublished until the outbox has none left. B is tests/perf/raw_publish.py: the same
bodies, persistent, windowed publisher confirms, to the same quorum queue, with no
database on the path. Both are processes of their own, so each one's CPU share is its
own. Goal: A >= 80 % of B's messages/s.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg

from infra.local.processes import ManagedProcess
from shared.config import Settings
from shared.db import OUTBOX_CHANNEL, libpq_url
from tests.perf.cpu import CpuShares, format_shares, pids_of
from tests.perf.notify_latency import wait_until_listening
from tests.perf.profiling import PROFILE, profiled, stop_profiled
from tests.perf.rounds import alternate, median_ratio, scaled, summarise
from tests.perf.stack import ROOT, clear_reports, execute, purge_work_queue, queue_depth
from tests.perf.table import Line, ratio, verdict
from tests.processes import process_env

MESSAGES = scaled(100_000, 5_000)
GIVE_UP_SECONDS = 300

# Valid ReportRequested bodies built in the database, so 100,000 rows take seconds, not a
# loop. UTC makes occurredAt end in +00:00, as ReportRequested.encode() writes it.
FILL_OUTBOX = f"""
    SET TIME ZONE 'UTC';
    INSERT INTO outbox (message_id, message_type, report_id, body, published_at)
    SELECT id, 'report.requested', report_id, convert_to(json_build_object(
               'messageId', id, 'type', 'report.requested', 'reportId', report_id,
               'occurredAt', to_json(now()) #>> '{{}}')::text, 'UTF8'), now()
    FROM (SELECT gen_random_uuid() AS id, gen_random_uuid() AS report_id
          FROM generate_series(1, {MESSAGES})) AS fresh;
"""
UNPUBLISHED = "SELECT count(*) FROM outbox WHERE published_at IS NULL"


def check_all_arrived(settings: Settings, what: str) -> None:
    depth = queue_depth(settings)
    purge_work_queue(settings)
    if depth != MESSAGES:
        raise RuntimeError(f"{what}: {MESSAGES} messages sent, {depth} in the queue")


def drain_with_relay(settings: Settings, relay_pid: int) -> dict[str, Any]:
    url = libpq_url(settings.database_url)
    with (
        psycopg.connect(url, autocommit=True) as connection,
        CpuShares({"relay": lambda: pids_of(relay_pid)}) as cpu,
    ):
        with connection.transaction():  # the relay wakes on the NOTIFY at this commit
            connection.execute("UPDATE outbox SET published_at = NULL")
            connection.execute(f"NOTIFY {OUTBOX_CHANNEL}")
        started = time.perf_counter()
        deadline = time.monotonic() + GIVE_UP_SECONDS
        while connection.execute(UNPUBLISHED).fetchone()[0]:
            if time.monotonic() > deadline:
                raise RuntimeError("the relay did not drain the outbox in time")
            time.sleep(0.05)
        seconds = time.perf_counter() - started
    check_all_arrived(settings, "relay")
    return {
        "seconds": round(seconds, 3),
        "per_second": round(MESSAGES / seconds, 1),
        "cpu": cpu.shares(),
    }


def publish_raw(settings: Settings) -> dict[str, Any]:
    argv = [sys.executable, "-m", "tests.perf.raw_publish"]
    publisher = subprocess.Popen(
        argv, cwd=ROOT, env=process_env(settings), stdout=subprocess.PIPE, text=True
    )
    with CpuShares({"raw pika": lambda: pids_of(publisher.pid)}) as cpu:
        out, _ = publisher.communicate(timeout=GIVE_UP_SECONDS)
    if publisher.returncode != 0:
        raise RuntimeError(f"raw_publish exited with {publisher.returncode}")
    result = json.loads(out.splitlines()[-1])
    if result["confirmed"] != MESSAGES or result["returned"]:
        raise RuntimeError(f"raw_publish: {result}")
    check_all_arrived(settings, "raw pika")
    # Its CPU share includes reading the bodies before the clock starts; a small overstatement.
    return {
        "seconds": result["seconds"],
        "per_second": round(MESSAGES / result["seconds"], 1),
        "cpu": cpu.shares(),
    }


def measure(settings: Settings, log_dir: Path) -> dict[str, Any]:
    clear_reports(settings)
    execute(settings, FILL_OUTBOX)
    relay = ManagedProcess(
        "relay-drain",
        profiled([sys.executable, "-m", "relay"], "relay-drain"),
        process_env(settings),
        log_dir,
    )
    try:
        wait_until_listening(settings, timeout=60)
        purge_work_queue(settings)
        runs = alternate(
            {
                "relay": lambda: drain_with_relay(settings, relay.pid),
                "raw": lambda: publish_raw(settings),
            }
        )
    finally:
        if PROFILE:
            stop_profiled(relay.pid)
        code = relay.stop()
        execute(settings, "TRUNCATE outbox")
    if code != 0:
        raise RuntimeError(f"the relay exited with {code}:\n{relay.log()[-3000:]}")
    summary = {name: summarise(side, ("per_second", "seconds")) for name, side in runs.items()}
    return {
        "messages": MESSAGES,
        "batch": settings.relay_batch_size,
        **summary,
        "ratio": median_ratio(summary["relay"], summary["raw"], "per_second"),
    }


def lines(data: dict[str, Any]) -> list[Line]:
    relay, raw = data["relay"]["per_second"], data["raw"]["per_second"]
    return [
        Line(
            f"relay drain, {data['messages']:,} msgs, batch {data['batch']}",
            f"{relay['median']:,.0f} msg/s ({relay['min']:,.0f}-{relay['max']:,.0f})",
            f"raw pika {raw['median']:,.0f} msg/s ({raw['min']:,.0f}-{raw['max']:,.0f})",
            ratio(relay["median"], raw["median"], "higher"),
            verdict(data["ratio"] >= 0.8),
            "A >= 0.80 B",
        ),
        Line("  relay CPU (cores)", format_shares(data["relay"]["cpu"])),
        Line("  raw pika CPU (cores)", format_shares(data["raw"]["cpu"])),
    ]

"""The scheduler at its peak: 10,000 definitions due at one instant, two relays.

Two real relays (`python -m relay`, each scheduling too) run; 10,000 definitions of one
org are inserted with generate_series, all due at one instant a few seconds ahead, so both
schedulers are listening and asleep until it comes. Measured: that every definition got
exactly one run (a correctness bar: anything else is an error, not a slow number); the
time from the instant until the last run's outbox row was seen published (committed, by
the database's clock, polled every POLL_SECONDS so it errs high by at most that); and the
schedule lag, each run's scheduled_for to its created_at (the claiming transaction's start,
what reportbox_scheduler_lag_seconds observes). Goal: the last run published within 30 s.

Then the open-loop POST generator (tests/perf/open_loop.py) runs twice per round with the
same two relays: once with no definition due, once while STREAM_PER_MINUTE definitions a
minute come due evenly over its window. The ratio of their latencies shows what scheduling
costs requests. The definitions run once a year, so each makes exactly one run here.
"""

from __future__ import annotations

import contextlib
import re
import time
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg

from infra.local.processes import free_port
from shared.config import Settings
from shared.db import DEFINITIONS_CHANNEL, OUTBOX_CHANNEL, libpq_url
from tests.perf import open_loop
from tests.perf.cpu import CpuShares, format_shares, pids_of
from tests.perf.rounds import alternate, median_ratio, scaled, summarise
from tests.perf.servers import Server
from tests.perf.stack import ORG, clear_reports, execute, purge_work_queue, queue_depth
from tests.perf.table import Line, ratio, verdict
from tests.processes import Process, start_relay

DEFINITIONS = scaled(10_000, 1_000)
RELAYS = 2
LEAD_SECONDS = 3  # the instant is this far ahead of the insert: both schedulers see it coming
POLL_SECONDS = 0.1
GIVE_UP_SECONDS = 300
GOAL_SECONDS = 30
STREAM_PER_MINUTE = scaled(10_000, 1_000)
STREAM_SECONDS = scaled(30, 5)
STREAM_ROUNDS = 2
ONCE_A_YEAR = "0 0 1 1 *"
POST_KEYS = ("p50_ms", "p95_ms", "p99_ms", "errors", "late_starts")

# `count` definitions of the bench org due from `first`, `spacing` seconds apart (0: all at
# once), as the API would save them: an analyst's daily sessions CSV for the previous day.
INSERT_DEFINITIONS = """
    INSERT INTO report_definitions
        (id, org, owner_id, owner_roles, name, report_type, format, parameters, period,
         schedule_cron, schedule_timezone, next_run_at)
    SELECT gen_random_uuid(), %(org)s, 'bench-owner-' || n %% 32, ARRAY['analyst'],
           %(prefix)s || n, 'sessions', 'csv', '{}', 'previousDay', %(cron)s, 'UTC',
           %(first)s + n * %(spacing)s * interval '1 second'
    FROM generate_series(0, %(count)s - 1) AS n
"""

# Every scheduled run against the definitions: how many, for how many definitions, the lag.
RUNS = """
    SELECT count(r.id), count(DISTINCT r.definition_id),
           (SELECT count(*) FROM report_definitions d
            WHERE NOT EXISTS (SELECT 1 FROM reports x WHERE x.definition_id = d.id)),
           percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP (
               ORDER BY extract(epoch FROM r.created_at - r.scheduled_for)),
           max(extract(epoch FROM r.created_at - r.scheduled_for)),
           percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP (
               ORDER BY extract(epoch FROM o.published_at - r.scheduled_for)),
           count(o.published_at)
    FROM reports r LEFT JOIN outbox o ON o.report_id = r.id
    WHERE r.trigger = 'schedule'
"""

PUBLISHED = """
    SELECT count(*) FILTER (WHERE o.published_at IS NOT NULL),
           extract(epoch FROM clock_timestamp() - %(instant)s)
    FROM reports r JOIN outbox o ON o.report_id = r.id
    WHERE r.trigger = 'schedule'
"""


def run_problems(result: dict[str, Any]) -> list[str]:
    """What is wrong with the runs made: each definition must have exactly one, published."""
    expected = result["definitions"]
    problems = []
    if result["runs"] != result["distinct_definitions"]:
        duplicates = result["runs"] - result["distinct_definitions"]
        problems.append(f"{duplicates} definitions got more than one run")
    if result["without_run"]:
        problems.append(f"{result['without_run']} of {expected} definitions got no run")
    if result["published"] != expected:
        problems.append(f"{result['published']} of {expected} runs published")
    if result.get("queued", expected) != expected:
        problems.append(f"{result['queued']} messages in the queue for {expected} runs")
    if sum(result.get("runs_by_relay", {}).values()) not in (0, expected):
        problems.append(f"the relays counted {result['runs_by_relay']} runs for {expected}")
    return problems


def wait_until_listening(settings: Settings, relays: int, timeout: float = 60.0) -> None:
    """Each relay LISTENs for new outbox rows and for changed definitions once started."""
    query = """
        SELECT count(*) FILTER (WHERE query = %s), count(*) FILTER (WHERE query = %s)
        FROM pg_stat_activity WHERE datname = current_database()
    """
    listens = (f"LISTEN {OUTBOX_CHANNEL}", f"LISTEN {DEFINITIONS_CHANNEL}")
    deadline = time.monotonic() + timeout
    with psycopg.connect(libpq_url(settings.database_url), autocommit=True) as connection:
        while time.monotonic() < deadline:
            if min(connection.execute(query, listens).fetchone()) >= relays:
                return
            time.sleep(0.05)
    raise RuntimeError(f"{relays} relays did not start listening within {timeout} s")


@contextlib.contextmanager
def relays(settings: Settings, work_dir: Path) -> Iterator[dict[str, tuple[Process, int]]]:
    """RELAYS relays, each with its /metrics port: {name: (process, port)}."""
    started: dict[str, tuple[Process, int]] = {}
    try:
        for number in range(1, RELAYS + 1):
            port = free_port()
            name = f"relay-{number}"
            process = start_relay(settings.with_overrides(metrics_port=port), work_dir, name)
            started[name] = (process, port)
        wait_until_listening(settings, RELAYS)
        yield started
    finally:
        codes = {name: process.stop() for name, (process, _) in started.items()}
        broken = {name: code for name, code in codes.items() if code != 0}
        if broken:
            name = next(iter(broken))
            raise RuntimeError(
                f"{name} exited with {broken[name]}:\n{started[name][0].log()[-3000:]}"
            )


def cpu_groups(started: dict[str, tuple[Process, int]]) -> dict[str, Any]:
    """Each relay's process and children, for CpuShares."""
    return {name: (lambda pid=process.pid: pids_of(pid)) for name, (process, _) in started.items()}


def runs_counted(port: int) -> int:
    """The relay's own count of the scheduled runs it made (reportbox_definition_runs)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    found = re.search(r'^reportbox_definition_runs_total\{trigger="schedule"\} (\S+)$', text, re.M)
    return int(float(found.group(1))) if found else 0


def clear(settings: Settings) -> None:
    clear_reports(settings)
    execute(settings, "TRUNCATE report_definitions")
    purge_work_queue(settings)


def insert_due(settings: Settings, prefix: str, count: int, lead: float, spacing: float) -> Any:
    """Insert `count` definitions due from `lead` seconds ahead; the first instant."""
    with psycopg.connect(libpq_url(settings.database_url), autocommit=True) as connection:
        first = connection.execute(
            "SELECT date_trunc('second', now()) + make_interval(secs => %s)", (lead,)
        ).fetchone()[0]
        connection.execute(
            INSERT_DEFINITIONS,
            {
                "org": ORG,
                "prefix": prefix,
                "cron": ONCE_A_YEAR,
                "first": first,
                "spacing": spacing,
                "count": count,
            },
        )
    return first


def wait_until_published(settings: Settings, count: int, instant: Any) -> float:
    """Seconds from `instant` until `count` scheduled runs are seen published."""
    deadline = time.monotonic() + GIVE_UP_SECONDS
    with psycopg.connect(libpq_url(settings.database_url), autocommit=True) as connection:
        while True:
            published, seconds = connection.execute(PUBLISHED, {"instant": instant}).fetchone()
            if published >= count or time.monotonic() > deadline:
                return float(seconds)
            time.sleep(POLL_SECONDS)


def run_figures(settings: Settings, definitions: int) -> dict[str, Any]:
    with psycopg.connect(libpq_url(settings.database_url)) as connection:
        row = connection.execute(RUNS).fetchone()
    made, distinct, without, lag, lag_max, published_lag, published = row
    lag, published_lag = lag or [0.0, 0.0], published_lag or [0.0, 0.0]
    return {
        "definitions": definitions,
        "runs": made,
        "distinct_definitions": distinct,
        "without_run": without,
        "published": published,
        "lag_p50_s": round(lag[0], 3),
        "lag_p99_s": round(lag[1], 3),
        "lag_max_s": round(float(lag_max or 0), 3),
        "published_lag_p50_s": round(published_lag[0], 3),
        "published_lag_p99_s": round(published_lag[1], 3),
    }


def burst(settings: Settings, started: dict[str, tuple[Process, int]]) -> dict[str, Any]:
    clear(settings)
    groups = cpu_groups(started)
    before = {name: runs_counted(port) for name, (_, port) in started.items()}
    with CpuShares(groups) as cpu:
        instant = insert_due(settings, "burst-", DEFINITIONS, LEAD_SECONDS, 0.0)
        seconds = wait_until_published(settings, DEFINITIONS, instant)
    result = {
        **run_figures(settings, DEFINITIONS),
        "instant_to_last_published_s": round(seconds, 2),
        "queued": queue_depth(settings),
        "runs_by_relay": {
            name: runs_counted(port) - before[name] for name, (_, port) in started.items()
        },
        # The CPU window includes the lead before the instant, when both relays sleep.
        "cpu": cpu.shares(),
    }
    result["problems"] = run_problems(result)
    return result


def post_side(
    settings: Settings,
    api: Server,
    work_dir: Path,
    started: dict[str, tuple[Process, int]],
    stream: int,
) -> dict[str, Any]:
    """One open-loop window; with `stream` > 0, that many definitions come due during it."""
    clear(settings)
    groups = cpu_groups(started)
    spacing = STREAM_SECONDS / stream if stream else 0.0
    firsts = []

    def insert() -> None:
        if stream:
            firsts.append(insert_due(settings, "stream-", stream, 1.0, spacing))

    result = open_loop.run_generator(settings, api, work_dir, STREAM_SECONDS, groups, insert)
    if stream:
        last = firsts[0] + timedelta(seconds=(stream - 1) * spacing)
        wait_until_published(settings, stream, last)
        runs = run_figures(settings, stream)
        result["stream"] = {**runs, "problems": run_problems(runs)}
    return result


def measure(settings: Settings, api: Server, work_dir: Path) -> dict[str, Any]:
    stream = round(STREAM_PER_MINUTE * STREAM_SECONDS / 60)
    try:
        with relays(settings, work_dir) as started:
            burst_result = burst(settings, started)
            sides = alternate(
                {
                    "without": lambda: post_side(settings, api, work_dir, started, 0),
                    "with": lambda: post_side(settings, api, work_dir, started, stream),
                },
                STREAM_ROUNDS,
            )
    finally:
        clear(settings)
    with_runs = [run["stream"] for run in sides["with"]]
    without, with_stream = (summarise(sides[name], POST_KEYS) for name in ("without", "with"))
    problems = burst_result["problems"] + [p for runs in with_runs for p in runs["problems"]]
    return {
        "burst": burst_result,
        "post_without": without,
        "post_with": with_stream,
        "stream_definitions": stream,
        "stream_seconds": STREAM_SECONDS,
        "stream_runs": with_runs,
        "p95_ratio": median_ratio(with_stream, without, "p95_ms"),
        "p99_ratio": median_ratio(with_stream, without, "p99_ms"),
        "problems": problems,
    }


def lines(data: dict[str, Any]) -> list[Line]:
    burst_result = data["burst"]
    correct = not burst_result["problems"]
    seconds = burst_result["instant_to_last_published_s"]
    split = ", ".join(f"{name} {count:,}" for name, count in burst_result["runs_by_relay"].items())
    without, with_stream = data["post_without"], data["post_with"]
    stream_lag = max(runs["lag_p99_s"] for runs in data["stream_runs"])
    post_met = (
        with_stream["p95_ms"]["median"] <= 15
        and with_stream["p99_ms"]["median"] <= 30
        and with_stream["errors"]["max"] == 0
    )

    def post(summary: dict[str, Any]) -> str:
        cuts = " / ".join(f"{summary[key]['median']:.1f}" for key in ("p50_ms", "p95_ms", "p99_ms"))
        return (
            f"{cuts} ms, errors {summary['errors']['max']:.0f}, "
            f"late starts {summary['late_starts']['median']:.0f}"
        )

    return [
        Line(
            f"{burst_result['definitions']:,} definitions due at one instant, {RELAYS} relays",
            f"{burst_result['runs']:,} runs for {burst_result['distinct_definitions']:,} "
            f"definitions, {burst_result['published']:,} published, "
            f"{burst_result['queued']:,} queued",
            "",
            "",
            verdict(correct),
            "each exactly one run",
        ),
        Line("  runs made by each relay", split),
        Line(
            "  instant -> last run's outbox row published",
            f"{seconds:.1f} s",
            "",
            "",
            verdict(correct and seconds < GOAL_SECONDS),
            f"< {GOAL_SECONDS} s",
        ),
        Line(
            "  schedule lag (instant -> run created)",
            f"p50 {burst_result['lag_p50_s']:.2f} / p99 {burst_result['lag_p99_s']:.2f} s "
            f"(max {burst_result['lag_max_s']:.2f})",
            f"published: p50 {burst_result['published_lag_p50_s']:.2f} / "
            f"p99 {burst_result['published_lag_p99_s']:.2f} s",
        ),
        Line("  CPU (cores)", format_shares(burst_result["cpu"])),
        Line(
            f"POST open loop {open_loop.RATE} req/s, {data['stream_seconds']} s, "
            f"{data['stream_definitions']:,} runs due meanwhile ({STREAM_ROUNDS} rounds)",
            post(with_stream),
            "no runs due: " + post(without),
            f"p99 {ratio(with_stream['p99_ms']['median'], without['p99_ms']['median'], 'lower')}",
            verdict(post_met),
            "p95 <= 15, p99 <= 30 ms, no errors",
        ),
        Line(
            "  runs made during the window",
            f"{sum(runs['runs'] for runs in data['stream_runs']):,} of "
            f"{data['stream_definitions'] * len(data['stream_runs']):,}, "
            f"schedule lag p99 {stream_lag:.2f} s",
        ),
        Line("  CPU with runs due (cores)", format_shares(with_stream["cpu"])),
        Line("  CPU without (cores)", format_shares(without["cpu"])),
    ]

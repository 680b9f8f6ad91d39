"""POST throughput, closed loop, 32 connections from wrk: Reportbox against the bare view.

A is POST /api/v1/reports/sessions with 32 users' tokens (and, reported beside it, one
user's token: the integrator with one service token). B is tests/perf/bare_app.py: the
same two inserts in one transaction and nothing else, under the same gunicorn settings.
Each request is unique (tests/perf/post.lua), so no 409 or 429 rule joins requests, and
any non-2xx answer counts as an error. Goal: A >= 70 % of B's req/s, A's p95 < 100 ms.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg

from shared.config import Settings
from shared.db import libpq_url
from tests.perf.cpu import CpuShares, format_shares, pids_of
from tests.perf.rounds import alternate, median_ratio, scaled, summarise
from tests.perf.servers import Server
from tests.perf.stack import clear_reports
from tests.perf.table import Line, ratio, verdict
from tests.perf.tokens import USERS, write_tokens
from tests.perf.wrk import finish_wrk, start_wrk

CONNECTIONS = 32
SECONDS = scaled(8, 3)
WARM_UP_SECONDS = scaled(3, 1)
FINISH_EVERY = 0.1  # seconds
FINISH_PENDING = "UPDATE reports SET status = 'Completed' WHERE status = 'Pending'"
KEYS = ("per_second", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "errors")


@contextlib.contextmanager
def reports_finishing(settings: Settings) -> Iterator[None]:
    """Meanwhile, end every Pending report every FINISH_EVERY seconds, on both sides alike.

    No worker runs here, and without one a user's active reports would pile up into the
    thousands within a run (the limit is raised so that no 429 joins in). Counting them is
    part of every admission, so the one-token run would measure a user that no limit
    allows. Finishing them keeps each user's active set as small as workers keep it.
    """
    stop = threading.Event()

    def finish() -> None:
        with psycopg.connect(libpq_url(settings.database_url), autocommit=True) as connection:
            while not stop.wait(FINISH_EVERY):
                connection.execute(FINISH_PENDING)

    thread = threading.Thread(target=finish, name="finishing", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)


def run_wrk(settings: Settings, server: Server, tokens: Path, seconds: float) -> dict[str, Any]:
    # The rows of earlier runs would make the next run's inserts and counts dearer.
    clear_reports(settings)
    with reports_finishing(settings):
        wrk = start_wrk(server.url, tokens, CONNECTIONS, seconds)
        with CpuShares(
            {server.name: lambda: pids_of(server.process.pid), "wrk": lambda: pids_of(wrk.pid)}
        ) as cpu:
            result = finish_wrk(wrk, seconds)
    return {**result, "cpu": cpu.shares()}


def measure(settings: Settings, api: Server, bare: Server, work_dir: Path) -> dict[str, Any]:
    many = write_tokens(settings, work_dir / "tokens-32.txt", USERS)
    one = write_tokens(settings, work_dir / "tokens-1.txt", 1)
    for server in (api, bare):  # connections, caches and plans warm on both sides alike
        run_wrk(settings, server, many, WARM_UP_SECONDS)
    started = time.perf_counter()
    runs = alternate(
        {
            "reportbox_32_users": lambda: run_wrk(settings, api, many, SECONDS),
            "bare": lambda: run_wrk(settings, bare, many, SECONDS),
            "reportbox_1_user": lambda: run_wrk(settings, api, one, SECONDS),
        }
    )
    clear_reports(settings)
    summary = {name: summarise(side, KEYS) for name, side in runs.items()}
    return {
        "connections": CONNECTIONS,
        "seconds_per_run": SECONDS,
        "wall_seconds": round(time.perf_counter() - started, 1),
        **summary,
        "ratio_32_users": median_ratio(
            summary["reportbox_32_users"], summary["bare"], "per_second"
        ),
        "ratio_1_user": median_ratio(summary["reportbox_1_user"], summary["bare"], "per_second"),
    }


def _latencies(side: dict[str, Any]) -> str:
    return " / ".join(f"{side[key]['median']:.0f}" for key in ("p50_ms", "p90_ms", "p99_ms"))


def _rate(side: dict[str, Any]) -> str:
    rate = side["per_second"]
    return f"{rate['median']:,.0f} req/s ({rate['min']:,.0f}-{rate['max']:,.0f})"


def lines(data: dict[str, Any]) -> list[Line]:
    bare = data["bare"]
    out = []
    for key, label, ratio_key in (
        ("reportbox_32_users", "POST, 32 users", "ratio_32_users"),
        ("reportbox_1_user", "POST, 1 user's token", "ratio_1_user"),
    ):
        side = data[key]
        met = data[ratio_key] >= 0.7 and side["p95_ms"]["median"] < 100
        out.append(
            Line(
                f"{label}, {data['connections']} conns",
                _rate(side),
                f"bare view {_rate(bare)}",
                ratio(side["per_second"]["median"], bare["per_second"]["median"], "higher"),
                verdict(met),
                "A >= 0.70 B, p95 < 100 ms",
            )
        )
        out.append(
            Line(
                f"  p50/p90/p99 ms (p95 {side['p95_ms']['median']:.0f}), errors "
                f"{side['errors']['max']:.0f}",
                _latencies(side),
                f"bare {_latencies(bare)}",
            )
        )
        out.append(Line("  CPU (cores)", format_shares(side["cpu"])))
    out.append(Line("  bare view CPU (cores)", format_shares(bare["cpu"])))
    return out

"""Relay lag at 200 requests/s: from the API's commit to the message in the work queue.

The open-loop generator (tests/perf/open_loop.py) posts at RATE while `python -m relay`
runs; a consumer in this process notes when each message arrives. The lag is that arrival
minus the outbox row's created_at (the API transaction's start, on the same machine's
clock), so it errs high by the API transaction's own few milliseconds.
Goal: p50 <= 10 ms, p99 <= 50 ms.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import pika
import psycopg

from shared.broker import declare_topology
from shared.config import Settings
from shared.db import libpq_url
from tests.perf import open_loop
from tests.perf.cpu import format_shares, pids_of
from tests.perf.notify_latency import wait_until_listening
from tests.perf.rounds import scaled
from tests.perf.servers import Server
from tests.perf.stack import clear_reports, purge_work_queue
from tests.perf.table import Line, verdict
from tests.processes import start_relay

SECONDS = scaled(20, 5)
GIVE_UP_SECONDS = 60


class Arrivals:
    """Consumes the work queue on a thread of its own; wall-clock arrival per reportId."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.times: dict[str, float] = {}
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="arrivals", daemon=True)

    def _run(self) -> None:
        connection = pika.BlockingConnection(pika.URLParameters(self._settings.rabbitmq_url))
        channel = declare_topology(connection.channel(), self._settings)

        def arrived(_channel: object, _method: object, _props: object, body: bytes) -> None:
            self.times[json.loads(body)["reportId"]] = time.time()

        channel.basic_consume(self._settings.work_queue, arrived, auto_ack=True)
        self._ready.set()
        while not self._stop.is_set():
            connection.process_data_events(time_limit=0.2)
        connection.close()

    def __enter__(self) -> Arrivals:
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the arrivals consumer did not start")
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def wait_for(self, count: int) -> None:
        deadline = time.monotonic() + GIVE_UP_SECONDS
        while len(self.times) < count and time.monotonic() < deadline:
            time.sleep(0.1)


def commit_times(settings: Settings) -> dict[str, float]:
    with psycopg.connect(libpq_url(settings.database_url)) as connection:
        rows = connection.execute("SELECT report_id, extract(epoch FROM created_at) FROM outbox")
        return {str(report_id): float(epoch) for report_id, epoch in rows}


def measure(settings: Settings, api: Server, work_dir: Path) -> dict[str, Any]:
    clear_reports(settings)
    purge_work_queue(settings)
    relay = start_relay(settings, work_dir, name="relay-lag")
    try:
        wait_until_listening(settings, timeout=60)
        with Arrivals(settings) as arrivals:
            result = open_loop.run_generator(
                settings, api, work_dir, SECONDS, {"relay": lambda: pids_of(relay.pid)}
            )
            committed = commit_times(settings)
            arrivals.wait_for(len(committed))
            arrived = dict(arrivals.times)
    finally:
        code = relay.stop()
        clear_reports(settings)
        purge_work_queue(settings)
    if code != 0:
        raise RuntimeError(f"the relay exited with {code}:\n{relay.log()[-3000:]}")
    lags = [(arrived[key] - at) * 1000 for key, at in committed.items() if key in arrived]
    if not lags:
        raise RuntimeError("no message arrived")
    cuts = statistics.quantiles(lags, n=100, method="inclusive")
    return {
        "rate": result["rate"],
        "seconds": result["seconds"],
        "committed": len(committed),
        "missing": len(committed) - len(lags),
        "p50_ms": round(cuts[49], 2),
        "p99_ms": round(cuts[98], 2),
        "max_ms": round(max(lags), 2),
        "post": {key: result[key] for key in ("p50_ms", "p95_ms", "p99_ms", "errors")},
        "cpu": result["cpu"],
    }


def lines(data: dict[str, Any]) -> list[Line]:
    met = data["p50_ms"] <= 10 and data["p99_ms"] <= 50 and data["missing"] == 0
    return [
        Line(
            f"relay lag at {data['rate']} req/s, {data['committed']:,} msgs",
            f"p50 {data['p50_ms']:.1f} / p99 {data['p99_ms']:.1f} ms (max {data['max_ms']:.0f})",
            f"missing {data['missing']}",
            "",
            verdict(met),
            "p50 <= 10, p99 <= 50 ms",
        ),
        Line("  CPU (cores)", format_shares(data["cpu"])),
    ]

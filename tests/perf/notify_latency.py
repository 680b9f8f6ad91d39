"""From a POST's answer to its message in the queue, with a relay that must wake on NOTIFY.

The relay polls only every 5 s here, so a result of a few milliseconds can only come from
the NOTIFY its outbox trigger sends at commit.
"""

from __future__ import annotations

import http.client
import json
import statistics
import threading
import time
from typing import Any

import pika
import psycopg

from relay.relay import Relay
from shared.broker import declare_topology
from shared.config import Settings
from shared.db import OUTBOX_CHANNEL, libpq_url, make_engine, make_session_factory
from tests.perf.stack import clear_reports, execute, make_token, purge_work_queue
from tests.perf.table import Line, ratio

POLL_SECONDS = 5.0
WARM_UP = 3
REPORTS = 50
GIVE_UP_SECONDS = 3 * POLL_SECONDS  # a missed NOTIFY still arrives, at the next poll


class RelayThread:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._engine = make_engine(settings, pool_size=2)
        self.relay = Relay(settings, make_session_factory(self._engine))
        self._thread = threading.Thread(target=self.relay.run, name="relay", daemon=True)

    def __enter__(self) -> RelayThread:
        self._thread.start()
        wait_until_listening(self._settings)
        return self

    def __exit__(self, *_: object) -> None:
        self.relay.stop()
        # It may be waiting for up to the poll interval; a NOTIFY wakes it to see stop().
        execute(self._settings, f"NOTIFY {OUTBOX_CHANNEL}")
        self._thread.join(timeout=2 * POLL_SECONDS)
        self._engine.dispose()
        if self._thread.is_alive():
            raise RuntimeError("the relay thread did not stop")


def wait_until_listening(settings: Settings, timeout: float = 10.0) -> None:
    """The relay opens its LISTEN connection after its first pass; wait for it."""
    query = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query = %s"
    )
    deadline = time.monotonic() + timeout
    with psycopg.connect(libpq_url(settings.database_url), autocommit=True) as connection:
        while time.monotonic() < deadline:
            if connection.execute(query, (f"LISTEN {OUTBOX_CHANNEL}",)).fetchone()[0]:
                return
            time.sleep(0.05)
    raise RuntimeError("the relay did not start listening")


class QueueWatcher:
    """Consumes the work queue on its own connection and notes when each report arrives."""

    def __init__(self, settings: Settings) -> None:
        self._connection = pika.BlockingConnection(pika.URLParameters(settings.rabbitmq_url))
        channel = self._connection.channel()
        declare_topology(channel, settings)
        channel.basic_consume(settings.work_queue, self._on_message, auto_ack=True)
        self._arrived: dict[str, float] = {}

    def _on_message(self, _channel: object, _method: object, _props: object, body: bytes) -> None:
        self._arrived[json.loads(body)["reportId"]] = time.perf_counter()

    def arrival(self, report_id: str) -> float:
        deadline = time.monotonic() + GIVE_UP_SECONDS
        while report_id not in self._arrived:
            if time.monotonic() > deadline:
                raise RuntimeError(f"report {report_id} never reached the queue")
            self._connection.process_data_events(time_limit=0.5)
        return self._arrived[report_id]

    def close(self) -> None:
        self._connection.close()


PATH = "/api/v1/reports/sessions"
BODY = {"format": "csv", "parameters": {"fromDate": "2026-01-01", "toDate": "2026-01-31"}}


def post_report(connection: http.client.HTTPConnection, settings: Settings) -> str:
    # A new user each time: no worker runs, so reports stay Pending, and one user would meet
    # the refusal of an identical active request (409).
    token = make_token(settings)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    connection.request("POST", PATH, json.dumps(BODY), headers)
    response = connection.getresponse()
    payload = response.read()
    if response.status != 202:
        raise RuntimeError(f"POST answered {response.status}: {payload[:300]!r}")
    return json.loads(payload)["reportId"]


def measure(settings: Settings, port: int) -> dict[str, Any]:
    slow_poll = settings.with_overrides(relay_poll_seconds=POLL_SECONDS)
    watcher = QueueWatcher(slow_poll)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies: list[float] = []
    try:
        with RelayThread(slow_poll):
            for index in range(WARM_UP + REPORTS):
                report_id = post_report(connection, settings)
                answered = time.perf_counter()
                # A delivery that came in before we looked is stamped when read: errs high.
                waited = (watcher.arrival(report_id) - answered) * 1000
                if index >= WARM_UP:
                    latencies.append(waited)
    finally:
        connection.close()
        watcher.close()
    clear_reports(settings)
    purge_work_queue(settings)
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "reports": REPORTS,
        "poll_seconds": POLL_SECONDS,
        "p50_ms": round(cuts[49], 2),
        "p95_ms": round(cuts[94], 2),
        "max_ms": round(max(latencies), 2),
        "p95_ratio_to_poll": round(cuts[94] / (POLL_SECONDS * 1000), 4),
    }


def lines(data: dict[str, Any]) -> list[Line]:
    poll_ms = data["poll_seconds"] * 1000
    return [
        Line(
            "POST answered -> in queue p95",
            f"{data['p95_ms']:.1f} ms",
            f"poll interval {poll_ms:.0f} ms",
            ratio(data["p95_ms"], poll_ms, "lower"),
        ),
        Line(
            "POST answered -> in queue p50",
            f"{data['p50_ms']:.1f} ms (max {data['max_ms']:.1f})",
        ),
    ]

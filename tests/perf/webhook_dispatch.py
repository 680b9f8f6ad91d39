"""Webhook dispatch: the real dispatcher (`python -m dispatcher`) sending signed events to a
receiver on loopback that answers 200 at once.

The receiver is a process of its own (tests/perf/hook_receiver.py, HTTP/1.1 keep-alive, as
receivers commonly are), so its CPU is neither taken from the bench process nor hidden in it.

Throughput: ENDPOINTS endpoints of one org take report.completed; REPORTS_PER_ROUND reports
are completed in one transaction with their events (as the worker's lifecycle writes them),
ENDPOINTS messages each, while the dispatcher is listening. Measured from the commit to the
receiver's last arrival. Its reference, alternating with it: the same receiver and number
of messages sent by a plain loop in this process, as many threads as DISPATCHER_CONCURRENCY,
each message signed with standardwebhooks and POSTed on the thread's kept-alive http.client
connection (as the dispatcher's sender keeps them): what the machine does without the
table, the claims and the records. Goal: >= 500 deliveries/s.

Latency: reports of another org (one endpoint) are completed through the worker's own
Lifecycle.complete, COMPLETIONS_PER_SECOND on an open-loop schedule for LATENCY_SECONDS;
each report's completed_at (the completing transaction's clock) to its event's arrival at
the receiver (the receiver's clock; the same machine). Goal: p99 < 1 s.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text
from standardwebhooks.webhooks import Webhook

from infra.local.processes import free_port
from shared.config import Settings
from shared.db import make_engine
from shared.storage import UploadedObject
from shared.webhooks.events import record_report_events
from shared.webhooks.signing import new_secret, seal_secret
from tests.perf import dispatch_load
from tests.perf.cpu import CpuShares, format_shares, pids_named, pids_of
from tests.perf.helper_process import serving
from tests.perf.rounds import alternate, scaled, summarise
from tests.perf.stack import clear_reports, execute
from tests.perf.table import Line, ratio, verdict

ORG = "bench-hooks"
LATENCY_ORG = "bench-hooks-latency"
ENDPOINTS = 16  # each holds at most WEBHOOK_ENDPOINT_CONCURRENCY of the threads
REPORTS_PER_ROUND = scaled(500, 100)  # x ENDPOINTS messages
COMPLETIONS_PER_SECOND = 50
LATENCY_SECONDS = scaled(10, 4)
GOAL_PER_SECOND = 500
GOAL_P99_MS = 1000
EVENT = "report.completed"

INSERT_ENDPOINT = """
    INSERT INTO webhook_endpoints (id, org, url, event_types, secret)
    VALUES (gen_random_uuid(), %(org)s, %(url)s, ARRAY['report.completed'], %(secret)s)
"""
COMPLETE_ALL = text(
    """
    UPDATE reports SET status = 'Completed', completed_at = now(), row_count = 1000,
                       file_name = 'report.csv', content_type = 'text/csv', size_bytes = 1
    WHERE id = ANY(:ids)
    """
)
# A message whose first attempt failed is retried after 5 s, then 300 s: past this, report.
UNDELIVERED_SECONDS = 60
NOT_DELIVERED = """
    SELECT state, attempts, last_status_code, left(last_error, 200), count(*)
    FROM webhook_messages WHERE state <> 'delivered'
    GROUP BY 1, 2, 3, 4 ORDER BY 5 DESC LIMIT 5
"""
DELIVERED = "SELECT count(*) FROM webhook_messages WHERE state = 'delivered' AND org = %(org)s"
COMPLETED_AT = """
    SELECT m.id::text, extract(epoch FROM r.completed_at)
    FROM webhook_messages m JOIN reports r ON r.id = m.report_id WHERE m.org = %(org)s
"""


class Receiver:
    """The receiver process (tests/perf/hook_receiver.py), asked over HTTP what arrived: the
    first arrival time (epoch seconds) of each webhook-id."""

    def __init__(self, port: int) -> None:
        self.port = port

    def _ask(self, method: str, path: str) -> Any:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body=b"" if method == "POST" else None)
            return json.loads(connection.getresponse().read() or b"null")
        finally:
            connection.close()

    @property
    def arrivals(self) -> dict[str, float]:
        return self._ask("GET", "/arrivals")

    @property
    def sample_body(self) -> bytes:
        return self._ask("GET", "/sample")["body"].encode()

    def reset(self) -> None:
        self._ask("POST", "/reset")

    def wait_for_ids(self, ids: set[str], timeout: float) -> bool:
        """Wait until each of `ids` arrived; whether they did within `timeout`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._ask("GET", "/count")["count"] >= len(ids) and ids <= self.arrivals.keys():
                return True
            time.sleep(dispatch_load.POLL_SECONDS)
        return False

    def wait_for(self, count: int, timeout: float = dispatch_load.GIVE_UP_SECONDS) -> float | None:
        """Wait until `count` distinct ids arrived; the latest arrival (epoch seconds), or
        None if they did not within `timeout`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen = self._ask("GET", "/count")
            if seen["count"] >= count:
                return float(seen["last"])
            time.sleep(dispatch_load.POLL_SECONDS)
        return None


@contextlib.contextmanager
def receiving() -> Iterator[tuple[Receiver, int, int]]:
    """The receiver process; (its client, its port, its pid)."""
    port = free_port()
    with serving("tests.perf.hook_receiver", port) as pid:
        yield Receiver(port), port, pid


def add_endpoints(settings: Settings, org: str, port: int, count: int) -> None:
    with dispatch_load.connect(settings) as connection:
        for number in range(count):
            url = f"http://127.0.0.1:{port}/hooks/{org}/{number}"
            secret = seal_secret(new_secret(), settings.delivery_secrets_key)
            connection.execute(INSERT_ENDPOINT, {"org": org, "url": url, "secret": secret})


def clear(settings: Settings) -> None:
    clear_reports(settings)
    execute(settings, "TRUNCATE webhook_messages")


def dispatched(settings: Settings, receiver: Receiver, groups: dict[str, Any]) -> dict[str, Any]:
    """One burst through the dispatcher: events written at once, sent until the last."""
    clear(settings)
    receiver.reset()
    report_ids = dispatch_load.insert_processing(settings, ORG, REPORTS_PER_ROUND)
    expected = REPORTS_PER_ROUND * ENDPOINTS
    engine = make_engine(settings)
    try:
        with CpuShares(groups) as cpu:
            with engine.begin() as connection:
                connection.execute(COMPLETE_ALL, {"ids": report_ids})
                written = record_report_events(connection, EVENT, report_ids)
            committed = time.time()
            last = receiver.wait_for(expected, UNDELIVERED_SECONDS)
    finally:
        engine.dispose()
    if last is None:
        return {"messages": expected, "problems": [f"not delivered: {not_delivered(settings)}"]}
    recorded = dispatch_load.wait_for_count(settings, DELIVERED, {"org": ORG}, expected)
    seconds = last - committed
    problems = []
    if written != expected:
        problems.append(f"{written} events written for {expected}")
    if recorded != expected:
        problems.append(f"{recorded} of {expected} messages recorded delivered")
    return {
        "messages": expected,
        "seconds": round(seconds, 3),
        "per_second": round(expected / seconds, 1),
        "cpu": cpu.shares(),
        "problems": problems,
    }


def not_delivered(settings: Settings) -> list[Any]:
    with dispatch_load.connect(settings) as connection:
        return [tuple(row) for row in connection.execute(NOT_DELIVERED).fetchall()]


def signed_loop(
    settings: Settings, receiver: Receiver, port: int, receiver_pids: Any
) -> dict[str, Any]:
    """The reference: sign + POST the same number of messages, same threads, same receiver."""
    receiver.reset()
    expected = REPORTS_PER_ROUND * ENDPOINTS
    body = receiver.sample_body.decode()
    secrets = [new_secret() for _ in range(ENDPOINTS)]
    ids = iter([(str(uuid.uuid4()), secrets[n % ENDPOINTS]) for n in range(expected)])
    take = threading.Lock()

    def send() -> None:
        # One kept-alive connection per thread, as the dispatcher keeps them per receiver.
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
        while True:
            with take:
                item = next(ids, None)
            if item is None:
                connection.close()
                return
            webhook_id, secret = item
            sent_at = datetime.now(UTC)
            headers = {
                "webhook-id": webhook_id,
                "webhook-timestamp": str(int(sent_at.timestamp())),
                "webhook-signature": Webhook(secret).sign(webhook_id, sent_at, body),
                "content-type": "application/json",
            }
            connection.request("POST", "/reference", body=body.encode(), headers=headers)
            connection.getresponse().read()

    threads = settings.dispatcher_concurrency
    started = time.time()
    with CpuShares({"bench process": lambda: [os.getpid()], "receiver": receiver_pids}) as cpu:
        with ThreadPoolExecutor(threads) as pool:
            for future in [pool.submit(send) for _ in range(threads)]:
                future.result()
        last = receiver.wait_for(expected)
    if last is None:
        raise RuntimeError(f"{len(receiver.arrivals)} of {expected} reference posts arrived")
    seconds = last - started
    return {
        "messages": expected,
        "seconds": round(seconds, 3),
        "per_second": round(expected / seconds, 1),
        "cpu": cpu.shares(),
    }


def latency(settings: Settings, receiver: Receiver) -> dict[str, Any]:
    """Reports completed through the worker's lifecycle at a steady rate; each one's
    completed_at to its event's arrival."""
    receiver.reset()
    count = COMPLETIONS_PER_SECOND * LATENCY_SECONDS
    report_ids = dispatch_load.insert_processing(settings, LATENCY_ORG, count)
    uploaded = UploadedObject("bench/none", 1, "0" * 64)
    late = dispatch_load.complete_at_rate(settings, report_ids, COMPLETIONS_PER_SECOND, uploaded)
    with dispatch_load.connect(settings) as connection:
        completed = dict(connection.execute(COMPLETED_AT, {"org": LATENCY_ORG}).fetchall())
    if not receiver.wait_for_ids(set(completed), UNDELIVERED_SECONDS):
        return {"reports": count, "problems": [f"not delivered: {not_delivered(settings)}"]}
    arrivals = receiver.arrivals
    seconds = [arrivals[key] - float(at) for key, at in completed.items()]
    problems = [] if len(seconds) == count else [f"{len(seconds)} events for {count} reports"]
    return {
        "reports": count,
        "rate": COMPLETIONS_PER_SECOND,
        "late_starts": late,
        **dispatch_load.percentiles_ms(seconds),
        "problems": problems,
    }


def measure(settings: Settings, work_dir: Path) -> dict[str, Any]:
    hooks = settings.with_overrides(webhook_allow_http=True, webhook_allowed_cidrs="127.0.0.0/8")
    with receiving() as (receiver, port, receiver_pid):
        clear(hooks)
        execute(hooks, "TRUNCATE webhook_endpoints CASCADE")
        add_endpoints(hooks, ORG, port, ENDPOINTS)
        add_endpoints(hooks, LATENCY_ORG, port, 1)
        try:
            with dispatch_load.dispatcher(hooks, work_dir) as process:
                groups = {
                    "dispatcher": lambda: pids_of(process.pid),
                    "postgres": lambda: pids_named(("postgres",)),
                    "bench process": lambda: [os.getpid()],
                    "receiver": lambda: [receiver_pid],
                }
                sides = alternate(
                    {
                        "dispatcher": lambda: dispatched(hooks, receiver, groups),
                        "signed loop": lambda: signed_loop(
                            hooks, receiver, port, lambda: [receiver_pid]
                        ),
                    }
                )
                latency_result = latency(hooks, receiver)
        finally:
            clear(hooks)
            execute(hooks, "TRUNCATE webhook_endpoints CASCADE")
    problems = [p for run in sides["dispatcher"] for p in run["problems"]]
    # The figures are incomplete: the problems say why.
    if problems or "p50_ms" not in latency_result:
        return {"problems": problems + latency_result["problems"]}
    keys = ("per_second", "seconds")
    through, reference = summarise(sides["dispatcher"], keys), summarise(sides["signed loop"], keys)
    return {
        "endpoints": ENDPOINTS,
        "concurrency": hooks.dispatcher_concurrency,
        "dispatcher": through,
        "signed_loop": reference,
        "latency": latency_result,
        "problems": problems + latency_result["problems"],
    }


def lines(data: dict[str, Any]) -> list[Line]:
    if "dispatcher" not in data:
        return [Line("wrong result", "; ".join(data["problems"]), verdict=verdict(False))]
    through, reference = data["dispatcher"], data["signed_loop"]
    rate = through["per_second"]["median"]
    reference_rate = reference["per_second"]["median"]
    waited = data["latency"]
    runs = len(through["runs"])
    return [
        Line(
            f"{through['runs'][0]['messages']:,} signed webhooks, {data['endpoints']} endpoints, "
            f"{data['concurrency']} threads ({runs} rounds)",
            f"{rate:,.0f}/s [{through['per_second']['min']:,.0f}-"
            f"{through['per_second']['max']:,.0f}]",
            f"sign + POST loop: {reference_rate:,.0f}/s",
            ratio(rate, reference_rate, "higher"),
            verdict(rate >= GOAL_PER_SECOND and not data["problems"]),
            f">= {GOAL_PER_SECOND}/s",
        ),
        Line("  CPU dispatching (cores)", format_shares(through["cpu"])),
        Line("  CPU of the reference (cores)", format_shares(reference["cpu"])),
        Line(
            f"Completed -> event received, {waited['rate']}/s completions for "
            f"{waited['reports'] // waited['rate']} s, one endpoint",
            f"p50 {waited['p50_ms']:.0f} / p99 {waited['p99_ms']:.0f} ms "
            f"(max {waited['max_ms']:.0f})",
            f"late completions {waited['late_starts']}",
            "",
            verdict(waited["p99_ms"] < GOAL_P99_MS and not waited["problems"]),
            f"p99 < {GOAL_P99_MS} ms",
        ),
    ]

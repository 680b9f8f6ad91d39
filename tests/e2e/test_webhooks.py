"""Webhooks end to end: the api, relay, worker and dispatcher as real processes, receivers on
loopback whose answers each test scripts, every delivery verified by `standardwebhooks`.

One stack for the module, with a short retry schedule and timeout so that retries, timeouts
and outages take seconds. Each test has an org of its own, so no event of one test reaches
another's endpoint. A second API process, without the loopback allowance, shows the
request-forgery guard at save time; the guard at the attempt (a name that starts resolving
to loopback after the save) stays at the integration level (tests/integration/
test_dispatcher.py), since no name's resolution can be changed from here.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import signal
import subprocess
import threading
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker
from standardwebhooks.webhooks import Webhook

from shared.config import Settings
from shared.db import make_engine, make_session_factory
from tests.conftest import RUN_ID, delete_broker_topology, fresh_database
from tests.e2e.api_client import ApiClient
from tests.e2e.faultstack import eventually
from tests.integration.webhook_receiver import Receiver, answer
from tests.processes import (
    Process,
    stack_settings,
    start_api,
    start_dispatcher,
    start_relay,
    start_worker,
    wait_until_ready,
)
from tests.services import free_port

pytestmark = pytest.mark.e2e

BASE = "/api/v1/webhook-endpoints"
TIMEOUT = 2.0  # seconds an attempt may take
SCHEDULE = "1,1,2"  # seconds before each retry (±20 %): four attempts within about 5 s
THROWAWAY_TYPES = "tests.report_types.sleepy,tests.report_types.broken"
SMALL_REPORT = {"fromDate": "2026-01-01", "toDate": "2026-01-02"}
REPORT_EVENTS = ["report.completed", "report.failed", "report.cancelled"]
# A dispatcher that died mid-attempt lets its lease run out before another sends again: the
# attempt's timeout plus the dispatcher's margin (shared/webhooks/messages.py LEASE_MARGIN).
LEASE_RUNS_OUT = TIMEOUT + 30.0


@dataclass
class HookStack:
    base_url: str
    strict_url: str  # an API without the loopback allowance
    settings: Settings
    sessions: sessionmaker[Session]
    log_dir: Path
    processes: dict[str, Process] = field(default_factory=dict)
    killed: list[Process] = field(default_factory=list)
    _starts: dict[str, int] = field(default_factory=dict)

    def start(self, kind: str) -> Process:
        """A (new) relay, worker or dispatcher process, with a log of its own."""
        starter = {"relay": start_relay, "worker": start_worker, "dispatcher": start_dispatcher}
        self._starts[kind] = self._starts.get(kind, 0) + 1
        process = starter[kind](self.settings, self.log_dir, f"{kind}-{self._starts[kind]}")
        self.processes[kind] = process
        return process

    def kill(self, kind: str) -> None:
        """SIGKILL, by PID: nothing is flushed, released or recorded."""
        process = self.processes.pop(kind)
        process.signal(signal.SIGKILL)
        process.stop()  # reaps it and closes its log
        self.killed.append(process)


@pytest.fixture(scope="module")
def hooks(settings: Settings, postgres_url: str, tmp_path_factory) -> Iterator[HookStack]:
    log_dir = tmp_path_factory.mktemp("hook-logs")
    port, strict_port = free_port(), free_port()
    base_url = f"http://127.0.0.1:{port}"
    with fresh_database(postgres_url, f"reportbox_hooks_{RUN_ID}") as database_url:
        settings = stack_settings(
            settings,
            database_url,
            base_url,
            "hooks",
            progress_interval_seconds=0.5,
            report_type_modules=THROWAWAY_TYPES,
            webhook_allowed_cidrs="127.0.0.1/32",
            webhook_retry_schedule=SCHEDULE,
            webhook_timeout_seconds=TIMEOUT,
            # The dispatcher's loops hear SIGTERM only at the end of their wait: short waits
            # make the module's teardown quick (the NOTIFY still wakes them for new work).
            dispatcher_poll_seconds=1.0,
        )
        engine = make_engine(settings)
        stack = HookStack(
            base_url,
            f"http://127.0.0.1:{strict_port}",
            settings,
            make_session_factory(engine),
            log_dir,
        )
        strict = settings.with_overrides(webhook_allowed_cidrs="")
        api = start_api(settings, port, log_dir)
        strict_api = start_api(strict, strict_port, log_dir / "strict", workers=1)
        for kind in ("relay", "worker", "dispatcher"):
            stack.start(kind)
        try:
            wait_until_ready(base_url, api)
            wait_until_ready(stack.strict_url, strict_api)
            yield stack
        finally:
            running = [api, strict_api, *stack.processes.values()]
            for process in running:  # all at once: they shut down side by side
                process.signal(signal.SIGTERM)
            for process in running:  # a second SIGTERM (stop's) would cut a shutdown short
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.popen.wait(timeout=15)
            codes = [(process.name, process.stop()) for process in running]
            engine.dispose()
            delete_broker_topology(settings)
        # Each process still running must leave on SIGTERM by itself, not be killed.
        assert {code for _, code in codes} == {0}, codes


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture
def admin(hooks: HookStack, make_token) -> Callable[..., ApiClient]:
    """admin(): an admin of a fresh org, on the stack's API (or on `base_url`)."""

    def make(org: str | None = None, base_url: str | None = None) -> ApiClient:
        org = org or f"e2e-hooks-{uuid.uuid4().hex[:8]}"
        token = make_token(org=org, roles=("admin",))
        return ApiClient(base_url or hooks.base_url, token)

    return make


def register(client: ApiClient, url: str, **fields: Any) -> tuple[str, str]:
    """An endpoint registered through the API: its id and its secret."""
    body = {"url": url, "eventTypes": REPORT_EVENTS, **fields}
    created = client.request("POST", BASE, body)
    assert created.status == 201, created.body
    return created.body["endpointId"], created.body["secret"]


def messages(client: ApiClient, endpoint_id: str) -> list[dict[str, Any]]:
    listed = client.request("GET", f"{BASE}/{endpoint_id}/messages")
    assert listed.status == 200, listed.body
    return listed.body["items"]


def all_delivered(client: ApiClient, endpoint_id: str, count: int) -> list[dict[str, Any]] | None:
    items = messages(client, endpoint_id)
    if len(items) == count and all(item["status"] == "delivered" for item in items):
        return items
    return None


def send_test(client: ApiClient, endpoint_id: str) -> str:
    queued = client.request("POST", f"{BASE}/{endpoint_id}/test")
    assert queued.status == 202, queued.body
    return queued.body["messageId"]


def hold(release: threading.Event) -> Callable[[BaseHTTPRequestHandler], None]:
    """A receiver that keeps the request unanswered until `release` (then answers 200, to a
    caller that has given up or died by then)."""

    def behave(handler: BaseHTTPRequestHandler) -> None:
        release.wait(30)
        with contextlib.suppress(OSError):
            answer(handler, 200)

    return behave


def test_completed_failed_and_cancelled_each_arrive_once_signed_and_to_their_org_alone(
    hooks, admin, receiver
):
    client, stranger = admin(), admin()
    endpoint_id, secret = register(client, receiver.url("/outcomes"), includeDownloadUrl=True)
    stranger_id, _ = register(stranger, receiver.url("/stranger"))
    completed = client.request_report("sessions", SMALL_REPORT).body["reportId"]
    failed = client.request_report("broken", {}).body["reportId"]
    cancelled = client.request_report("sleepy", {"seconds": 60}).body["reportId"]
    assert client.request("DELETE", f"/api/v1/reports/{cancelled}").status == 202
    stranger.request_report("sessions", SMALL_REPORT)  # the other org's own event

    eventually(lambda: all_delivered(client, endpoint_id, 3), timeout=45)
    eventually(lambda: all_delivered(stranger, stranger_id, 1), timeout=15)

    requests = receiver.requests_to("/outcomes")
    assert len(requests) == 3  # once each
    events = {}
    for request in requests:
        event = Webhook(secret).verify(request.body, request.headers)
        events[event["type"]] = event["data"]
        assert len(request.body) < 2048
        assert request.headers["content-type"] == "application/json"
        assert request.headers["user-agent"] == "Reportbox-Webhooks/1"
    assert len({request.headers["webhook-id"] for request in requests}) == 3
    assert {type_: data["reportId"] for type_, data in events.items()} == {
        "report.completed": completed,
        "report.failed": failed,
        "report.cancelled": cancelled,
    }
    assert events["report.failed"]["error"]["code"] == "internal"
    assert events["report.cancelled"]["status"] == "Cancelled"
    report = client.report(completed).body
    assert events["report.completed"]["file"]["sha256"] == report["file"]["sha256"]
    with urllib.request.urlopen(events["report.completed"]["downloadUrl"], timeout=10) as file:
        assert hashlib.sha256(file.read()).hexdigest() == report["file"]["sha256"]
    # The other org's endpoint had its own event alone, and this org's events not at all.
    (theirs,) = receiver.requests_to("/stranger")
    assert json.loads(theirs.body)["data"]["reportId"] not in events.values()
    assert {item["messageId"] for item in messages(client, endpoint_id)} == {
        request.headers["webhook-id"] for request in requests
    }
    # The secret is kept sealed: neither it nor any whsec_ text is in the table.
    with hooks.sessions() as session:
        stored = session.execute(
            text("SELECT secret FROM webhook_endpoints WHERE id = :id"), {"id": endpoint_id}
        ).scalar_one()
        clear = session.execute(
            text("SELECT count(*) FROM webhook_endpoints WHERE secret LIKE 'whsec%'")
        ).scalar_one()
    assert secret not in stored and clear == 0


def test_500_twice_then_200_is_three_attempts_of_one_webhook_id_then_delivered(admin, receiver):
    client = admin()
    receiver.script("/flaky", 500, 500)
    endpoint_id, secret = register(client, receiver.url("/flaky"))
    message_id = send_test(client, endpoint_id)

    (message,) = eventually(lambda: all_delivered(client, endpoint_id, 1), timeout=20)
    requests = receiver.requests_to("/flaky")
    assert [request.headers["webhook-id"] for request in requests] == [message_id] * 3
    for request in requests:
        assert Webhook(secret).verify(request.body, request.headers)["type"] == "webhook.test"
    assert (message["attempts"], message["lastStatusCode"]) == (3, 200)
    assert message["deliveredAt"] and message["nextAttemptAt"] is None

    # Sent again on request, with the same webhook-id.
    retried = client.request("POST", f"{BASE}/{endpoint_id}/messages/{message_id}/retry")
    assert retried.status == 202
    again = receiver.wait_for("/flaky", count=4, timeout=10)
    assert len(again) == 4 and again[-1].headers["webhook-id"] == message_id
    eventually(lambda: messages(client, endpoint_id)[0]["attempts"] == 4, timeout=10)


def test_a_receiver_past_the_timeout_is_retried_while_exports_go_on(admin, receiver):
    client = admin()
    release = threading.Event()
    receiver.script("/slow", *[hold(release)] * 4)  # every attempt, until released
    endpoint_id, secret = register(client, receiver.url("/slow"), eventTypes=["report.completed"])
    try:
        first = client.request_report("sessions", SMALL_REPORT).body["reportId"]

        def timed_out() -> bool:
            """an attempt ran past the timeout and the message waits for its retry"""
            items = messages(client, endpoint_id)
            return bool(items) and f"no answer within {TIMEOUT:g} s" in (
                items[0]["lastError"] or ""
            )

        eventually(timed_out, timeout=20)
        # The receiver holds every attempt, and exports go on meanwhile.
        second = client.request_report("sessions", {**SMALL_REPORT, "toDate": "2026-01-03"})
        assert client.wait_until_terminal(second.body["reportId"])["status"] == "Completed"
        assert messages(client, endpoint_id)[-1]["status"] == "pending"
    finally:
        release.set()

    items = eventually(lambda: all_delivered(client, endpoint_id, 2), timeout=20)
    reports = {}
    for item in items:  # every attempt reached the receiver, with the message's webhook-id
        attempts = [
            request
            for request in receiver.requests_to("/slow")
            if request.headers["webhook-id"] == item["messageId"]
        ]
        assert len(attempts) == item["attempts"]
        for request in attempts:
            event = Webhook(secret).verify(request.body, request.headers)
        reports[event["data"]["reportId"]] = item["attempts"]
    assert reports[first] >= 2 and reports[second.body["reportId"]] >= 1


def test_410_disables_the_endpoint_and_a_302_is_a_failure_not_followed(admin, receiver):
    client = admin()
    receiver.script("/gone", 410)
    receiver.script("/moved", *[lambda h: answer(h, 302, {"location": "/elsewhere"})] * 4)
    gone_id, _ = register(client, receiver.url("/gone"))
    moved_id, _ = register(client, receiver.url("/moved"))
    send_test(client, gone_id)
    send_test(client, moved_id)

    def redirected() -> dict[str, Any] | None:
        """the 302 was recorded"""
        items = messages(client, moved_id)
        return items[0] if items and items[0]["lastStatusCode"] == 302 else None

    moved = eventually(redirected, timeout=15)
    gone = eventually(lambda: client.request("GET", f"{BASE}/{gone_id}").body["disabled"], 15)

    assert gone is True
    endpoint = client.request("GET", f"{BASE}/{gone_id}").body
    assert "410" in endpoint["disabledReason"]
    (message,) = messages(client, gone_id)
    assert (message["status"], message["lastStatusCode"]) == ("failed", 410)
    assert client.request("POST", f"{BASE}/{gone_id}/test").status == 409
    assert len(receiver.requests_to("/gone")) == 1
    assert moved["status"] == "pending" and "not followed" in moved["lastError"]
    assert receiver.requests_to("/elsewhere") == []
    assert client.request("DELETE", f"{BASE}/{moved_id}").status == 204  # no more retries


def test_a_receiver_down_for_a_while_gets_everything_once_it_is_back(admin):
    client = admin()
    down = Receiver()
    port = down.port
    down.close()  # nothing listens on the port: every attempt is refused
    endpoint_id, secret = register(client, f"http://127.0.0.1:{port}/back")
    sent = {send_test(client, endpoint_id) for _ in range(3)}

    def refused_twice() -> bool:
        """every message was refused at two attempts"""
        items = messages(client, endpoint_id)
        return len(items) == 3 and all(item["attempts"] >= 2 for item in items)

    eventually(refused_twice, timeout=15)
    assert all(item["lastStatusCode"] is None for item in messages(client, endpoint_id))
    back = Receiver(port)
    try:
        eventually(lambda: all_delivered(client, endpoint_id, 3), timeout=15)
        requests = back.requests_to("/back")
        assert {request.headers["webhook-id"] for request in requests} == sent
        for request in requests:
            Webhook(secret).verify(request.body, request.headers)
    finally:
        back.close()


def test_a_dispatcher_or_relay_killed_mid_way_loses_no_message(hooks, admin, receiver):
    client, other = admin(), admin()
    release = threading.Event()
    receiver.script("/held", hold(release))  # the first attempt is held, the next answered
    held_id, secret = register(client, receiver.url("/held"))
    after_relay_id, _ = register(other, receiver.url("/after-relay"))
    message_id = send_test(client, held_id)
    try:
        assert receiver.wait_for("/held", timeout=15), "the first attempt never came"
        hooks.kill("dispatcher")  # while the receiver holds its request
    finally:
        release.set()
    hooks.start("dispatcher")
    # While the dead dispatcher's lease runs out: a relay killed with a report to publish.
    hooks.kill("relay")
    report_id = other.request_report("sessions", SMALL_REPORT).body["reportId"]
    hooks.start("relay")
    assert other.wait_until_terminal(report_id)["status"] == "Completed"
    eventually(lambda: all_delivered(other, after_relay_id, 1), timeout=15)
    assert len(receiver.requests_to("/after-relay")) == 1

    (message,) = eventually(
        lambda: all_delivered(client, held_id, 1), timeout=LEASE_RUNS_OUT + 15, interval=0.5
    )
    requests = receiver.requests_to("/held")
    assert [request.headers["webhook-id"] for request in requests] == [message_id] * 2
    Webhook(secret).verify(requests[-1].body, requests[-1].headers)
    assert message["attempts"] == 2  # the one the kill cut short counts


def test_without_the_loopback_allowance_an_endpoint_on_127_0_0_1_is_refused_at_save(
    hooks, admin, receiver
):
    strict = admin(base_url=hooks.strict_url)
    refused = strict.request(
        "POST", BASE, {"url": receiver.url("/strict"), "eventTypes": ["report.completed"]}
    )

    assert refused.status == 422
    assert refused.headers["Content-Type"] == "application/problem+json"
    (why,) = refused.body["errors"]["url"]
    assert "127.0.0.1" in why and "not a public address" in why
    assert strict.request("GET", BASE).body["total"] == 0
    # The allowance is 127.0.0.1/32 alone: the rest of loopback stays refused.
    outside = admin().request(
        "POST", BASE, {"url": receiver.url("/x", host="127.0.0.2"), "eventTypes": REPORT_EVENTS}
    )
    assert outside.status == 422 and "127.0.0.2" in outside.body["errors"]["url"][0]

"""The dispatcher against the real database and a real receiver on loopback: signed
deliveries, retries with the same webhook-id, 3xx and 410, disabling, per-endpoint
isolation, and the request-forgery guard at every attempt."""

from __future__ import annotations

import json
import threading
import uuid
from concurrent.futures import FIRST_COMPLETED, wait
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet
from prometheus_client import REGISTRY
from sqlalchemy import text
from standardwebhooks.webhooks import Webhook

from api.webhooks.service import check_url
from client import WebhookVerificationError, verify_webhook
from dispatcher.dispatcher import Dispatcher
from dispatcher.sender import MAX_RESPONSE_BYTES, Sender
from relay.scheduler import Scheduler
from shared.storage import UploadedObject
from shared.webhooks import endpoints
from shared.webhooks.addresses import parse_networks
from tests.conftest import SECRETS_KEY
from tests.integration.test_scheduler import make_definition  # noqa: F401 (a fixture)
from tests.integration.webhook_helpers import make_endpoint, messages_of
from tests.integration.webhook_receiver import Receiver, answer
from worker.lifecycle import Lifecycle

LOOPBACK = "127.0.0.0/8"


@pytest.fixture
def org() -> str:
    return f"disp-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def hook_settings(settings):
    return settings.with_overrides(
        webhook_allow_http=True,
        webhook_allowed_cidrs=LOOPBACK,
        webhook_timeout_seconds=3.0,
        dispatcher_concurrency=4,
    )


@pytest.fixture(autouse=True)
def only_this_tests_endpoints(engine):
    """Every endpoint earlier tests left is disabled: a claim here sees this test's alone."""
    with engine.begin() as connection:
        connection.execute(text("UPDATE webhook_endpoints SET disabled = true"))


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.close()


def make_dispatcher(engine, hook_settings, resolver=None, **overrides) -> Dispatcher:
    settings = hook_settings.with_overrides(**overrides)
    sender = Sender(
        settings.webhook_allow_http,
        parse_networks(settings.webhook_allowed_cidrs),
        settings.webhook_timeout_seconds,
        **({"resolver": resolver} if resolver else {}),
    )
    return Dispatcher(settings, engine, sender)


def send_due(dispatcher: Dispatcher) -> int:
    """Claim and send until nothing is due; how many attempts were made."""
    made = 0
    while futures := dispatcher.run_once():
        for future in futures:
            future.result(timeout=30)
        made += len(futures)
    return made


@pytest.fixture
def complete_report(settings, engine, make_report):
    lifecycle = Lifecycle(engine, settings.lease_seconds, 3600)

    def complete(org: str):
        report = make_report(org=org)
        claim = lifecycle.claim(report.id)
        uploaded = UploadedObject(f"{org}/{report.id}.csv", 12, "c" * 64)
        assert lifecycle.complete(claim, uploaded, "sessions.csv", "text/csv", 3)
        return report

    return complete


def make_due(engine, endpoint_id):
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE webhook_messages SET next_attempt_at = now() WHERE endpoint_id = :id"),
            {"id": endpoint_id},
        )


def endpoint_row(engine, endpoint_id):
    with engine.connect() as connection:
        return connection.execute(
            text("SELECT * FROM webhook_endpoints WHERE id = :id"), {"id": endpoint_id}
        ).one()


def test_a_delivery_is_signed_and_verifies(engine, hook_settings, org, receiver, complete_report):
    endpoint_id, secret = make_endpoint(engine, org, receiver.url("/in"))
    report = complete_report(org)
    assert send_due(make_dispatcher(engine, hook_settings)) == 1

    (request,) = receiver.requests_to("/in")
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == "Reportbox-Webhooks/1"
    assert request.headers["webhook-signature"].startswith("v1,")
    event = Webhook(secret).verify(request.body, request.headers)
    assert verify_webhook(request.body, request.headers, secret) == event
    assert event["type"] == "report.completed"
    assert event["data"]["reportId"] == str(report.id)
    assert event["data"]["statusUrl"] == f"http://reportbox.test/api/v1/reports/{report.id}"
    assert event["data"]["file"]["sha256"] == "c" * 64
    assert "downloadUrl" not in event["data"]
    assert len(request.body) < 2048
    (message,) = messages_of(engine, endpoint_id)
    assert message.state == "delivered" and message.attempts == 1
    assert message.last_status_code == 200 and message.delivered_at is not None
    assert request.headers["webhook-id"] == str(message.id)


def test_a_retry_carries_the_same_webhook_id_after_the_schedule_s_delay(
    engine, hook_settings, org, receiver, complete_report
):
    endpoint_id, secret = make_endpoint(engine, org, receiver.url("/flaky"))
    receiver.script("/flaky", 500, 503)
    complete_report(org)
    dispatcher = make_dispatcher(engine, hook_settings)
    started = datetime.now(UTC)
    assert send_due(dispatcher) == 1
    (message,) = messages_of(engine, endpoint_id)
    assert message.state == "pending" and message.attempts == 1
    assert message.last_status_code == 500 and message.last_error == "HTTP 500"
    # 5 s ± 20 %: not due yet, so nothing is sent before then.
    assert started + timedelta(seconds=3.9) <= message.next_attempt_at
    assert message.next_attempt_at <= datetime.now(UTC) + timedelta(seconds=6.1)
    assert send_due(dispatcher) == 0
    for _ in range(2):
        make_due(engine, endpoint_id)
        assert send_due(dispatcher) == 1
    requests = receiver.requests_to("/flaky")
    assert len(requests) == 3
    assert {request.headers["webhook-id"] for request in requests} == {str(message.id)}
    for request in requests:
        verify_webhook(request.body, request.headers, secret)
    (message,) = messages_of(engine, endpoint_id)
    assert message.state == "delivered" and message.attempts == 3


def test_a_redirect_is_a_failure_and_is_not_followed(
    engine, hook_settings, org, receiver, complete_report
):
    endpoint_id, _ = make_endpoint(engine, org, receiver.url("/moved"))
    receiver.script("/moved", lambda handler: answer(handler, 302, {"location": "/elsewhere"}))
    complete_report(org)
    send_due(make_dispatcher(engine, hook_settings))
    assert len(receiver.requests_to("/moved")) == 1 and receiver.requests_to("/elsewhere") == []
    (message,) = messages_of(engine, endpoint_id)
    assert message.state == "pending" and message.last_status_code == 302
    assert "not followed" in message.last_error


def test_410_disables_the_endpoint_at_once_and_it_gets_nothing_more(
    engine, hook_settings, org, receiver, complete_report
):
    endpoint_id, _ = make_endpoint(engine, org, receiver.url("/gone"))
    receiver.script("/gone", 410)
    complete_report(org)
    dispatcher = make_dispatcher(engine, hook_settings)
    assert send_due(dispatcher) == 1
    complete_report(org)  # after the 410: no message is written for it
    endpoint = endpoint_row(engine, endpoint_id)
    assert endpoint.disabled and "410" in endpoint.disabled_reason
    (message,) = messages_of(engine, endpoint_id)
    assert message.state == "failed" and message.last_status_code == 410
    assert send_due(dispatcher) == 0
    assert len(receiver.requests_to("/gone")) == 1


def test_only_failures_for_the_disable_period_disable_and_fail_what_is_pending(
    engine, hook_settings, org, receiver, complete_report
):
    endpoint_id, _ = make_endpoint(engine, org, receiver.url("/down"))
    receiver.script("/down", 500, 500)
    complete_report(org)
    complete_report(org)
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE webhook_endpoints SET failing_since = :since WHERE id = :id"),
            {"id": endpoint_id, "since": datetime.now(UTC) - timedelta(seconds=100)},
        )
    dispatcher = make_dispatcher(
        engine, hook_settings, webhook_disable_after_seconds=100, webhook_endpoint_concurrency=1
    )
    # One message of the endpoint in flight at a time: the first attempt disables it, the
    # second message is failed without an attempt.
    assert send_due(dispatcher) == 1
    assert endpoint_row(engine, endpoint_id).disabled
    states = sorted((m.state, m.attempts) for m in messages_of(engine, endpoint_id))
    assert states == [("failed", 0), ("failed", 1)]


def test_a_success_clears_the_failing_streak(engine, hook_settings, org, receiver, complete_report):
    endpoint_id, _ = make_endpoint(engine, org, receiver.url("/back"))
    receiver.script("/back", 500, 200)
    complete_report(org)
    dispatcher = make_dispatcher(engine, hook_settings)
    send_due(dispatcher)
    assert endpoint_row(engine, endpoint_id).failing_since is not None
    make_due(engine, endpoint_id)
    send_due(dispatcher)
    assert endpoint_row(engine, endpoint_id).failing_since is None


def test_concurrent_attempts_that_each_disable_the_endpoint_record_without_a_deadlock(
    engine, hook_settings, org, receiver, complete_report
):
    endpoint_id, _ = make_endpoint(engine, org, receiver.url("/gone-twice"))
    both_in = threading.Barrier(2, timeout=10)
    # Both answers wait for each other: the two attempts are in flight, and recorded, at once.
    receiver.script("/gone-twice", *[lambda handler: (both_in.wait(), answer(handler, 410))] * 2)
    complete_report(org)
    complete_report(org)
    dispatcher = make_dispatcher(engine, hook_settings, webhook_endpoint_concurrency=2)
    assert send_due(dispatcher) == 2
    assert endpoint_row(engine, endpoint_id).disabled
    # The first record disables the endpoint (and fails the other message); the second,
    # fenced, leaves that as it is. Neither is lost to a deadlock and retried later.
    states = sorted(m.state for m in messages_of(engine, endpoint_id))
    assert states == ["failed", "failed"]
    assert [m.lease_until for m in messages_of(engine, endpoint_id)] == [None, None]


def in_flight(engine, endpoint_id) -> int:
    with engine.connect() as connection:
        return connection.execute(
            text(
                "SELECT count(*) FROM webhook_messages WHERE endpoint_id = :id"
                " AND state = 'pending' AND lease_until > now()"
            ),
            {"id": endpoint_id},
        ).scalar_one()


def test_one_endpoint_receives_several_messages_at_once_up_to_its_limit_never_more(
    engine, hook_settings, org, receiver, complete_report
):
    release = threading.Event()
    endpoint_id, _ = make_endpoint(engine, org, receiver.url("/parallel"))
    receiver.script("/parallel", *[lambda handler: (release.wait(30), answer(handler, 200))] * 5)
    for _ in range(5):
        complete_report(org)
    # Four threads, three of them for one endpoint at most; two dispatchers share the limit.
    dispatcher = make_dispatcher(
        engine, hook_settings, dispatcher_concurrency=4, webhook_endpoint_concurrency=3
    )
    other = make_dispatcher(
        engine, hook_settings, dispatcher_concurrency=4, webhook_endpoint_concurrency=3
    )
    try:
        futures = dispatcher.run_once()
        assert len(futures) == 3
        assert len(receiver.wait_for("/parallel", 3)) == 3  # all three arrive before any answer
        assert in_flight(engine, endpoint_id) == 3
        assert dispatcher.run_once() == [] and other.run_once() == []
    finally:
        release.set()
    for future in futures:
        future.result(timeout=30)
    assert send_due(other) == 2
    assert [m.state for m in messages_of(engine, endpoint_id)] == ["delivered"] * 5
    assert len(receiver.requests_to("/parallel")) == 5


def test_a_slow_receiver_does_not_delay_another_endpoint(
    engine, hook_settings, org, receiver, complete_report
):
    release = threading.Event()
    slow_id, _ = make_endpoint(engine, org, receiver.url("/slow"))
    receiver.script("/slow", *[lambda handler: (release.wait(30), answer(handler, 200))] * 4)
    for _ in range(4):
        complete_report(org)  # four messages for the slow endpoint, queued first
    fast_org = f"{org}-fast"
    fast_id, _ = make_endpoint(engine, fast_org, receiver.url("/fast"))
    complete_report(fast_org)
    # Three threads, and the slow endpoint's four messages come first: without the limit
    # every thread would wait on it and the fast endpoint with them. Its limit (at most one
    # below the threads, whatever the setting says) leaves a thread for the fast one.
    dispatcher = make_dispatcher(
        engine,
        hook_settings,
        webhook_timeout_seconds=30,
        dispatcher_concurrency=3,
        webhook_endpoint_concurrency=10,
    )
    try:
        futures = dispatcher.run_once()
        # Two threads hold the slow endpoint's first messages; its others wait their turn
        # instead of filling the threads, and the fast endpoint is served meanwhile.
        assert len(futures) == 3
        done, _ = wait(futures, timeout=10, return_when=FIRST_COMPLETED)
        assert len(done) == 1  # the fast one; the slow ones are still waiting for an answer
        assert [m.state for m in messages_of(engine, fast_id)] == ["delivered"]
        assert [m.state for m in messages_of(engine, slow_id)] == ["pending"] * 4
        assert dispatcher.run_once() == []  # the slow endpoint is at its limit
    finally:
        release.set()
    for future in futures:
        future.result(timeout=30)
    send_due(dispatcher)
    assert [m.state for m in messages_of(engine, slow_id)] == ["delivered"] * 4


def test_an_answer_past_the_timeout_is_a_failure(
    engine, hook_settings, org, receiver, complete_report
):
    release = threading.Event()
    endpoint_id, _ = make_endpoint(engine, org, receiver.url("/stuck"))
    receiver.script("/stuck", lambda handler: (release.wait(30), answer(handler, 200)))
    complete_report(org)
    try:
        send_due(make_dispatcher(engine, hook_settings, webhook_timeout_seconds=0.5))
    finally:
        release.set()
    (message,) = messages_of(engine, endpoint_id)
    assert message.state == "pending" and message.last_status_code is None
    assert "no answer within 0.5 s" in message.last_error


def test_at_most_64_kib_of_an_answer_is_read(engine, hook_settings, org, receiver, complete_report):
    def endless(handler):
        handler.send_response(200)
        handler.send_header("content-type", "text/plain")
        handler.end_headers()
        try:
            while True:  # never ends: only a bounded read lets the attempt finish
                handler.wfile.write(b"x" * 65536)
        except OSError:
            pass

    endpoint_id, _ = make_endpoint(engine, org, receiver.url("/endless"))
    receiver.script("/endless", endless)
    complete_report(org)
    send_due(make_dispatcher(engine, hook_settings, webhook_timeout_seconds=10))
    (message,) = messages_of(engine, endpoint_id)
    assert message.state == "delivered"


def test_during_a_rotation_both_secrets_verify(
    engine, hook_settings, org, receiver, complete_report
):
    endpoint_id, old = make_endpoint(engine, org, receiver.url("/rotated"))
    with engine.begin() as connection:
        new = endpoints.rotate(connection, endpoint_id, org, 3600, secrets_key=SECRETS_KEY)
    complete_report(org)
    send_due(make_dispatcher(engine, hook_settings))
    (request,) = receiver.requests_to("/rotated")
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        Webhook(secret).verify(request.body, request.headers)


def test_after_the_overlap_only_the_new_secret_signs(
    engine, hook_settings, org, receiver, complete_report
):
    endpoint_id, old = make_endpoint(engine, org, receiver.url("/rotated-long-ago"))
    with engine.begin() as connection:
        new = endpoints.rotate(connection, endpoint_id, org, 0, secrets_key=SECRETS_KEY)
    complete_report(org)
    send_due(make_dispatcher(engine, hook_settings))
    (request,) = receiver.requests_to("/rotated-long-ago")
    assert len(request.headers["webhook-signature"].split(" ")) == 1
    Webhook(new).verify(request.body, request.headers)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(request.body, request.headers, old)


def test_a_deleted_endpoint_gets_nothing_more(
    engine, hook_settings, org, receiver, complete_report
):
    endpoint_id, _ = make_endpoint(engine, org, receiver.url("/deleted"))
    complete_report(org)
    with engine.begin() as connection:
        connection.execute(endpoints.DELETE, {"id": endpoint_id, "org": org})
    assert send_due(make_dispatcher(engine, hook_settings)) == 0
    assert messages_of(engine, endpoint_id) == []
    assert receiver.requests_to("/deleted") == []


class Rebinding:
    """A resolver whose answers a test scripts, one per call (then the last, again)."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.calls: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def test_an_attempt_connects_to_the_address_it_checked_never_a_re_resolved_one(
    engine, hook_settings, org, receiver, complete_report
):
    # The name resolves to loopback (allowed here) once, then to the cloud metadata address.
    # The attempt resolves once and connects to what it checked: the system resolver, which
    # knows nothing of rebind.test, is never asked, and 169.254.169.254 never reached.
    resolver = Rebinding(["127.0.0.1"], ["169.254.169.254"])
    endpoint_id, _ = make_endpoint(engine, org, receiver.url("/pinned", host="rebind.test"))
    complete_report(org)
    dispatcher = make_dispatcher(engine, hook_settings, resolver=resolver)
    assert send_due(dispatcher) == 1
    (request,) = receiver.requests_to("/pinned")
    assert request.headers["host"] == f"rebind.test:{receiver.port}"
    assert resolver.calls == ["rebind.test"]
    # The next attempt resolves again, finds the metadata address, and sends nothing.
    complete_report(org)
    assert send_due(dispatcher) == 1
    assert len(receiver.requests_to("/pinned")) == 1
    refused = [m for m in messages_of(engine, endpoint_id) if m.state == "pending"]
    assert "169.254.169.254" in refused[0].last_error and refused[0].last_status_code is None


def test_successive_attempts_to_one_endpoint_reuse_its_kept_alive_connection(
    engine, hook_settings, org, receiver, complete_report
):
    make_endpoint(engine, org, receiver.url("/kept"))
    dispatcher = make_dispatcher(engine, hook_settings)
    for _ in range(3):
        complete_report(org)
        assert send_due(dispatcher) == 1
    peers = {request.peer for request in receiver.requests_to("/kept")}
    assert len(receiver.requests_to("/kept")) == 3 and len(peers) == 1


def test_a_kept_connection_serves_only_an_attempt_whose_check_accepted_its_address(
    engine, hook_settings, org, receiver, complete_report
):
    # Both answers are allowed (loopback), but the second is another address: the connection
    # kept from the first attempt (to 127.0.0.1) must not carry the second, which connects
    # to what it checked, 127.0.0.2, where nothing listens.
    resolver = Rebinding(["127.0.0.1"], ["127.0.0.2"])
    endpoint_id, _ = make_endpoint(engine, org, receiver.url("/moved-host", host="rebind.test"))
    dispatcher = make_dispatcher(engine, hook_settings, resolver=resolver)
    complete_report(org)
    assert send_due(dispatcher) == 1
    complete_report(org)
    assert send_due(dispatcher) == 1
    assert len(receiver.requests_to("/moved-host")) == 1
    refused = [m for m in messages_of(engine, endpoint_id) if m.state == "pending"]
    assert refused[0].last_status_code is None and "Refused" in refused[0].last_error


def test_an_answer_not_read_to_its_end_closes_the_connection(
    engine, hook_settings, org, receiver, complete_report
):
    def too_long(handler):
        handler.send_response(200)
        handler.send_header("content-length", str(MAX_RESPONSE_BYTES + 1))
        handler.end_headers()
        handler.wfile.write(b"x" * (MAX_RESPONSE_BYTES + 1))

    make_endpoint(engine, org, receiver.url("/long"))
    receiver.script("/long", too_long)
    dispatcher = make_dispatcher(engine, hook_settings)
    for _ in range(2):
        complete_report(org)
        assert send_due(dispatcher) == 1
    first, second = receiver.requests_to("/long")
    assert first.peer != second.peer


def test_a_private_address_outside_the_allowed_networks_is_refused_at_the_attempt(
    engine, hook_settings, org, receiver, complete_report
):
    endpoint_id, _ = make_endpoint(engine, org, receiver.url("/private"))
    complete_report(org)
    send_due(make_dispatcher(engine, hook_settings, webhook_allowed_cidrs=""))
    assert receiver.requests_to("/private") == []
    (message,) = messages_of(engine, endpoint_id)
    assert "127.0.0.1" in message.last_error and "not a public address" in message.last_error


def test_a_download_url_is_presigned_at_send_time_only_when_asked(
    engine, hook_settings, org, receiver, complete_report
):
    make_endpoint(engine, org, receiver.url("/with-link"), include_download_url=True)
    complete_report(org)
    presigned = []

    def presign(snapshot):
        presigned.append(snapshot["object_key"])
        return f"https://s3.test/{snapshot['object_key']}?sig=1", "2026-12-05T12:15:00+00:00"

    settings = hook_settings
    sender = Sender(True, parse_networks(LOOPBACK), 3.0)
    send_due(Dispatcher(settings, engine, sender, presign))
    (request,) = receiver.requests_to("/with-link")
    data = json.loads(request.body)["data"]
    assert data["downloadUrl"] == f"https://s3.test/{presigned[0]}?sig=1"
    assert data["downloadUrlExpiresAt"] == "2026-12-05T12:15:00+00:00"


@pytest.mark.parametrize(
    ("key", "why"),
    [(None, "DELIVERY_SECRETS_KEY is not set"), (Fernet.generate_key().decode(), "another key")],
)
def test_without_the_key_that_sealed_the_secret_nothing_is_sent_unsigned(
    engine, hook_settings, org, receiver, complete_report, caplog, key, why
):
    endpoint_id, _ = make_endpoint(engine, org, receiver.url("/locked"))
    complete_report(org)
    dispatcher = make_dispatcher(engine, hook_settings, delivery_secrets_key=key)
    with caplog.at_level("ERROR", logger="dispatcher.dispatcher"):
        assert send_due(dispatcher) == 1
    assert receiver.requests_to("/locked") == []
    (message,) = messages_of(engine, endpoint_id)
    # A failed attempt on the retry schedule, seen in the messages: sent, signed, once a
    # dispatcher has the key again.
    assert message.state == "pending" and message.delivered_at is None
    assert message.next_attempt_at is not None and message.lease_until is None
    assert why in message.last_error and message.last_status_code is None
    assert why in caplog.text
    make_due(engine, endpoint_id)
    assert send_due(make_dispatcher(engine, hook_settings)) == 1
    assert len(receiver.requests_to("/locked")) == 1
    assert messages_of(engine, endpoint_id)[0].state == "delivered"


def test_a_name_that_starts_resolving_to_loopback_after_the_save_is_refused_at_the_attempt(
    engine, hook_settings, org, receiver, complete_report
):
    # Public when the endpoint was saved (the API's check), 127.0.0.1 at the attempt, and
    # no allowance for loopback: nothing is sent, and the refusal names the address.
    url = receiver.url("/rebound", host="hooks.example.test")
    check_url(url, hook_settings, resolver=Rebinding(["93.184.216.34"]))
    endpoint_id, _ = make_endpoint(engine, org, url)
    complete_report(org)
    dispatcher = make_dispatcher(
        engine, hook_settings, resolver=Rebinding(["127.0.0.1"]), webhook_allowed_cidrs=""
    )
    assert send_due(dispatcher) == 1
    assert receiver.requests_to("/rebound") == []
    (message,) = messages_of(engine, endpoint_id)
    assert message.last_status_code is None
    assert "resolves to 127.0.0.1, which is not a public address" in message.last_error


def test_a_paused_definition_is_sent_with_the_contracts_fields(
    engine,
    settings,
    hook_settings,
    org,
    receiver,
    make_definition,  # noqa: F811
):
    endpoint_id, secret = make_endpoint(
        engine, org, receiver.url("/paused"), event_types=["definition.paused"]
    )
    definition_id = make_definition(roles=("nobody",))  # its owner may not run it any more
    Scheduler(settings, engine).run_once()
    assert send_due(make_dispatcher(engine, hook_settings)) == 1

    (request,) = receiver.requests_to("/paused")
    event = Webhook(secret).verify(request.body, request.headers)
    assert event["type"] == "definition.paused" and len(request.body) < 2048
    assert request.headers["user-agent"] == "Reportbox-Webhooks/1"
    data = event["data"]
    assert set(data) == {
        "definitionId",
        "name",
        "reportType",
        "format",
        "active",
        "consecutiveFailures",
        "pausedReason",
    }
    assert data["definitionId"] == str(definition_id) and data["active"] is False
    assert (data["reportType"], data["format"]) == ("sessions", "csv")
    assert "may no longer request" in data["pausedReason"]
    (message,) = messages_of(engine, endpoint_id)
    assert message.state == "delivered"


def test_the_metrics_count_delivery_latency_and_disabled_endpoints(
    engine, hook_settings, org, receiver, complete_report
):
    def sample(name, **labels):
        return REGISTRY.get_sample_value(name, labels) or 0.0

    delivered_before = sample("reportbox_webhook_delivery_seconds_count")
    gone_before = sample("reportbox_webhook_endpoints_disabled_total", why="gone")
    make_endpoint(engine, org, receiver.url("/counted"))
    gone_id, _ = make_endpoint(engine, org, receiver.url("/counted-gone"))
    receiver.script("/counted-gone", 410)
    complete_report(org)
    assert send_due(make_dispatcher(engine, hook_settings)) == 2
    assert sample("reportbox_webhook_delivery_seconds_count") == delivered_before + 1
    assert sample("reportbox_webhook_endpoints_disabled_total", why="gone") == gone_before + 1
    assert endpoint_row(engine, gone_id).disabled

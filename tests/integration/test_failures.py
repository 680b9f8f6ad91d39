"""Failure handling against the real services: the retry queue, the written-down topology,
giving up after the last attempt, export timeouts, handing back at shutdown, the stuck-report
check and the database's own timeouts."""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path

import pika
import pytest
from sqlalchemy import text

from api.auth import Principal
from api.reports import admission
from relay.stuck import StuckReports
from shared.broker import Consumer, Delivery, declare_topology, messages_waiting, queue_arguments
from shared.catalog import get_report_type
from shared.config import Settings
from shared.db import DatabaseUnavailable, make_engine, make_session_factory, translate_errors
from shared.messages import ReportRequested
from shared.models import Report
from shared.storage import Storage
from tests.conftest import delete_broker_topology, fresh_database
from tests.integration.broker_helpers import declare
from tests.integration.helpers import reload
from tests.services import free_port
from worker.exporter import Exporter, Outcome
from worker.lifecycle import Lifecycle

DEFINITIONS = Path(__file__).resolve().parents[2] / "infra" / "rabbitmq" / "definitions.json"


@pytest.fixture
def queues(settings: Settings):
    """Settings with exchanges and queues of this test's own; all of them deleted after."""
    suffix = uuid.uuid4().hex[:8]
    isolated = settings.with_overrides(
        exchange=f"{settings.exchange}.f{suffix}", work_queue=f"{settings.work_queue}.f{suffix}"
    )
    yield isolated
    delete_broker_topology(isolated)


def exporter_for(settings: Settings, engine, max_attempts=5, **options) -> Exporter:
    lifecycle = Lifecycle(engine, settings.lease_seconds, 3600, max_attempts)
    return Exporter(lifecycle, engine, Storage(settings), **options)


# ---------------------------------------------------------------------------- topology


def test_definitions_json_writes_down_exactly_the_declared_topology():
    definitions = json.loads(DEFINITIONS.read_text())
    settings = Settings()

    queues = {queue["name"]: queue for queue in definitions["queues"]}
    assert {name: queue["arguments"] for name, queue in queues.items()} == queue_arguments(settings)
    assert all(queue["durable"] and queue["vhost"] == "/" for queue in queues.values())
    exchanges = {exchange["name"]: exchange["type"] for exchange in definitions["exchanges"]}
    assert exchanges == {settings.exchange: "direct", settings.dead_letter_exchange: "fanout"}
    bindings = {
        (binding["source"], binding["destination"], binding["routing_key"])
        for binding in definitions["bindings"]
    }
    assert bindings == {
        (settings.exchange, settings.work_queue, "report.requested"),
        (settings.dead_letter_exchange, settings.dead_letter_queue, ""),
    }
    assert definitions["vhosts"] == [{"name": "/"}]


def test_a_broker_set_up_from_the_definitions_accepts_the_apps_own_declarations(queues, caplog):
    # The definitions, renamed to this test's names, declared exactly as written down.
    names = {
        "reportbox": queues.exchange,
        "reportbox.dead": queues.dead_letter_exchange,
        "reportbox.reports": queues.work_queue,
        "reportbox.reports.dead": queues.dead_letter_queue,
        "reportbox.reports.retry": queues.retry_queue,
    }
    definitions = json.loads(DEFINITIONS.read_text())
    connection = pika.BlockingConnection(pika.URLParameters(queues.rabbitmq_url))
    try:
        channel = connection.channel()
        for exchange in definitions["exchanges"]:
            channel.exchange_declare(names[exchange["name"]], exchange["type"], durable=True)
        for queue in definitions["queues"]:
            arguments = {
                key: names.get(value, value) if isinstance(value, str) else value
                for key, value in queue["arguments"].items()
            }
            channel.queue_declare(names[queue["name"]], durable=True, arguments=arguments)

        channel = declare_topology(channel, queues)

        assert channel.is_open
    finally:
        connection.close()
    assert "broker.queue_arguments_differ" not in caplog.text  # every argument agreed


def test_a_work_queue_declared_with_other_arguments_is_used_as_it_is(queues, caplog):
    connection = pika.BlockingConnection(pika.URLParameters(queues.rabbitmq_url))
    try:
        older = {"x-queue-type": "quorum", "x-delivery-limit": 3}  # as an older release had it
        connection.channel().queue_declare(queues.work_queue, durable=True, arguments=older)

        channel = declare_topology(connection.channel(), queues)

        channel.confirm_delivery()
        channel.basic_publish(queues.exchange, "report.requested", b"routed", mandatory=True)
        assert channel.basic_get(queues.work_queue, auto_ack=True)[2] == b"routed"
    finally:
        connection.close()
    assert "broker.queue_arguments_differ" in caplog.text


# ---------------------------------------------------------------------------- retry queue


def test_a_retried_message_waits_in_the_retry_queue_not_in_a_prefetch_slot(queues):
    received: list[tuple[float, Delivery]] = []
    consumer = Consumer(queues, 1, lambda delivery: received.append((time.monotonic(), delivery)))
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()

    def wait_for(count: int) -> None:
        deadline = time.monotonic() + 10
        while len(received) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(received) >= count, [delivery.message_id for _, delivery in received]

    try:
        publish(queues, b"first", "retry-me")
        publish(queues, b"second", "next")
        wait_for(1)
        parked_at, first = received[0]

        first.retry_later(0.8)  # the copy is confirmed, then the original is acked

        wait_for(2)  # with a prefetch of one: the first no longer holds the slot
        at_second, second = received[1]
        second.ack()
        wait_for(3)
        back_at, again = received[2]
        again.retry_later(0.1, counted=False)  # a park: waiting for a lease, not a fault
        wait_for(4)
        _, parked = received[3]
        parked.ack()
    finally:
        consumer.stop()
        thread.join(timeout=5)
        consumer.close()
    assert (first.message_id, first.retries) == ("retry-me", 0)
    assert second.message_id == "next" and at_second < parked_at + 0.5
    assert (again.message_id, again.body, again.retries) == ("retry-me", b"first", 1)
    assert 0.7 <= back_at - parked_at < 5
    assert (parked.message_id, parked.retries) == ("retry-me", 1)


def publish(settings: Settings, body: bytes, message_id: str) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(settings.rabbitmq_url))
    connection.channel().basic_publish(
        settings.exchange,
        "report.requested",
        body,
        pika.BasicProperties(message_id=message_id, type="report.requested"),
    )
    connection.close()


# ---------------------------------------------------------------------------- exporter


def test_a_transient_fault_is_retried_until_the_last_attempt_then_fails_readably(
    settings, sessions, engine, make_report
):
    unreachable = settings.with_overrides(s3_endpoint_url=f"http://127.0.0.1:{free_port()}")
    exporter = exporter_for(unreachable, engine, max_attempts=2)
    report = make_report()

    first = exporter.process(report.id)
    released = reload(sessions, report.id)
    last = exporter.process(report.id)

    assert first is Outcome.RETRY_LATER
    assert (released.status, released.lease_expires_at) == ("Pending", None)
    assert last is Outcome.GAVE_UP
    failed = reload(sessions, report.id)
    assert (failed.status, failed.attempts, failed.error_code) == ("Failed", 2, "unavailable")
    assert failed.error_message == (
        "Gave up after 2 attempts: the file storage could not be reached."
    )


def test_an_export_past_the_maximum_duration_fails_with_code_timeout(
    settings, sessions, engine, make_report
):
    exporter = exporter_for(settings, engine, max_export_seconds=0.001)
    report = make_report(parameters={"fromDate": "2026-01-01", "toDate": "2026-12-31"})

    assert exporter.process(report.id) is Outcome.FAILED

    failed = reload(sessions, report.id)
    assert (failed.status, failed.error_code) == ("Failed", "timeout")
    assert failed.error_message == "The export took longer than the maximum of 0.001 seconds."
    assert failed.object_key is None


def test_a_hand_back_releases_the_report_for_the_next_worker_at_once(
    settings, sessions, engine, make_report
):
    exporter = exporter_for(settings, engine)
    exporter.hand_back()  # as the worker does when its shutdown grace ran out
    report = make_report()

    assert exporter.process(report.id) is Outcome.HANDED_BACK

    handed_back = reload(sessions, report.id)
    assert (handed_back.status, handed_back.lease_expires_at) == ("Pending", None)
    assert exporter_for(settings, engine).process(report.id) is Outcome.COMPLETED
    assert reload(sessions, report.id).status == "Completed"


def test_hand_backs_at_shutdown_spend_no_attempts_but_crashes_do(
    settings, sessions, engine, make_report
):
    report, crashed = make_report(), make_report()
    for _ in range(3):  # three rollouts in a row, with two attempts allowed
        stopping = exporter_for(settings, engine, max_attempts=2)
        stopping.hand_back()
        assert stopping.process(report.id) is Outcome.HANDED_BACK
    lifecycle = Lifecycle(engine, settings.lease_seconds, 3600, max_attempts=2)
    for _ in range(2):  # two workers killed mid-export: their leases run out
        assert lifecycle.claim(crashed.id) is not None
        with sessions.begin() as session:
            session.execute(
                text("UPDATE reports SET lease_expires_at = now() - interval '1 s' WHERE id = :id"),
                {"id": crashed.id},
            )

    assert exporter_for(settings, engine, max_attempts=2).process(report.id) is Outcome.COMPLETED
    assert exporter_for(settings, engine, max_attempts=2).process(crashed.id) is Outcome.GAVE_UP

    done = reload(sessions, report.id)
    assert (done.status, done.attempts, done.hand_backs) == ("Completed", 4, 3)
    failed = reload(sessions, crashed.id)
    assert (failed.status, failed.error_code, failed.attempts) == ("Failed", "gave_up", 2)


# ---------------------------------------------------------------------------- stuck reports


def age(sessions, report_id, *, seconds: int, status: str = "Pending", lease: str = "NULL"):
    """Make a report look accepted `seconds` ago, its message published then too."""
    with sessions.begin() as session:
        session.execute(
            text(
                "UPDATE reports SET created_at = now() - make_interval(secs => :s), "
                f"status = :status, lease_expires_at = {lease} WHERE id = :id"
            ),
            {"s": seconds, "status": status, "id": report_id},
        )
        session.execute(
            text(
                "UPDATE outbox SET published_at = now() - make_interval(secs => :s) "
                "WHERE convert_from(body, 'UTF8')::jsonb ->> 'reportId' = :id"
            ),
            {"s": seconds, "id": str(report_id)},
        )


def messages_for(sessions, report_id) -> list[tuple[uuid.UUID, bool]]:
    with sessions() as session:
        rows = session.execute(
            text(
                "SELECT message_id, published_at IS NULL AS unpublished FROM outbox "
                "WHERE convert_from(body, 'UTF8')::jsonb ->> 'reportId' = :id ORDER BY id"
            ),
            {"id": str(report_id)},
        )
        return [(row.message_id, row.unpublished) for row in rows]


def test_stuck_reports_get_one_new_message_and_the_rest_are_left_alone(
    settings, sessions, make_report
):
    stuck_pending, abandoned, young, held = (make_report() for _ in range(4))
    age(sessions, stuck_pending.id, seconds=600)
    age(sessions, abandoned.id, seconds=600, status="Processing", lease="now() - interval '9 min'")
    age(sessions, young.id, seconds=60)
    age(sessions, held.id, seconds=600, status="Processing", lease="now() + interval '1 min'")
    # More messages waiting than the outbox remembers: any of them may be in line.
    deferred = StuckReports(settings, sessions, waiting=lambda: 10**9).run_once()
    checks = [StuckReports(settings, sessions, waiting=lambda: 0) for _ in range(2)]

    counts: list[int] = []
    threads = [threading.Thread(target=lambda c=c: counts.append(c.run_once())) for c in checks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    again = checks[0].run_once()

    for report in (stuck_pending, abandoned):
        first, second = messages_for(sessions, report.id)
        assert first[1] is False and second[1] is True  # a new, unpublished message
        assert first[0] != second[0]
    for report in (young, held):
        assert len(messages_for(sessions, report.id)) == 1
    assert deferred == 0  # messages waiting in the queue: the stuck ones may be among them
    assert sum(counts) >= 2
    assert again == 0  # the new message is not yet published: nothing is stuck any more


@pytest.fixture
def quiet_outbox(postgres_url, queues):
    """Settings whose database is this test's alone: the stuck-report check ranks every
    publish in the outbox against the work queue, and this one must hold only the test's."""
    with fresh_database(postgres_url, f"reportbox_stuck_{uuid.uuid4().hex[:10]}") as url:
        settings = queues.with_overrides(database_url=url, source_database_url=url)
        engine = make_engine(settings)
        try:
            yield settings, engine, make_session_factory(engine)
        finally:
            engine.dispose()


def test_under_a_steady_backlog_a_lost_message_is_sent_again_and_a_waiting_one_is_not(
    quiet_outbox,
):
    settings, engine, sessions = quiet_outbox
    lost, *in_line = (accept(engine, sessions) for _ in range(4))
    age(sessions, lost.id, seconds=900)  # its message went out, then vanished
    declare(settings)
    for report, seconds in zip(in_line, (600, 500, 400), strict=True):
        age(sessions, report.id, seconds=seconds)  # older than STUCK_AFTER_SECONDS, in line
        publish(settings, ReportRequested.new(report.id).encode(), str(report.id))
    wait_for_ready(settings, 3)

    reenqueued = StuckReports(settings, sessions).run_once()  # asks the real broker

    assert reenqueued == 1
    assert [unpublished for _, unpublished in messages_for(sessions, lost.id)] == [False, True]
    for report in in_line:
        assert len(messages_for(sessions, report.id)) == 1


def accept(engine, sessions) -> Report:
    principal = Principal(f"user-{uuid.uuid4().hex[:8]}", "acme", frozenset({"admin"}))
    parameters = {"fromDate": "2026-01-01", "toDate": "2026-01-31"}
    accepted = admission.admit(engine, principal, get_report_type("sessions"), "csv", parameters)
    with sessions.begin() as session:  # the relay published it
        session.execute(text("UPDATE outbox SET published_at = now()"))
    return reload(sessions, accepted.report_id)


def wait_for_ready(settings: Settings, count: int) -> None:
    deadline = time.monotonic() + 10
    while messages_waiting(settings) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert messages_waiting(settings) == count


# ---------------------------------------------------------------------------- database


def test_every_connection_ends_a_transaction_left_idle(settings):
    engine = make_engine(settings.with_overrides(db_idle_in_transaction_timeout_ms=200))
    sessions = make_session_factory(engine)
    try:
        with sessions() as session:
            timeout = session.execute(text("SHOW idle_in_transaction_session_timeout")).scalar()
        with pytest.raises(DatabaseUnavailable), translate_errors(), sessions() as session:
            session.execute(text("SELECT 1"))  # opens the transaction
            time.sleep(0.6)
            session.execute(text("SELECT 1"))
    finally:
        engine.dispose()
    assert timeout == "200ms"


def test_relay_and_worker_connections_carry_a_statement_timeout(settings):
    engine = make_engine(settings, statement_timeout_ms=settings.db_statement_timeout_ms)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SHOW statement_timeout")).scalar() == "1min"
    finally:
        engine.dispose()

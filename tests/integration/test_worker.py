"""The worker against real PostgreSQL, RabbitMQ and an S3 endpoint."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import threading
import time
import uuid

import pika
from sqlalchemy import text

from relay.relay import Relay
from shared.storage import Storage, report_object_key
from tests.integration.broker_helpers import drain_queue, queue_depth
from tests.integration.helpers import eventually, reload
from worker.exporter import Exporter, Outcome
from worker.lifecycle import Lifecycle
from worker.worker import Worker


def sessions_in_january(sessions, org: str) -> int:
    with sessions() as session:
        return session.execute(
            text(
                "SELECT count(*) FROM demo.sessions WHERE org = :org "
                "AND started_at >= '2026-01-01T00:00:00Z' AND started_at < '2026-02-01T00:00:00Z'"
            ),
            {"org": org},
        ).scalar_one()


def test_a_message_becomes_an_object_and_a_completed_report(
    exporter, make_report, sessions, read_object
):
    report = make_report(org="globex")

    assert exporter.process(report.id) is Outcome.COMPLETED

    done = reload(sessions, report.id)
    assert done.status == "Completed"
    assert done.object_key == report_object_key("globex", report.id, 1, "csv")
    body = read_object(done.object_key)
    rows = list(csv.reader(io.StringIO(body.decode())))
    assert rows[0] == [
        "session_id",
        "user_id",
        "album_id",
        "started_at",
        "duration_ms",
        "country",
        "device",
    ]
    assert len(rows) - 1 == done.row_count == sessions_in_january(sessions, "globex") > 0
    assert done.size_bytes == len(body)
    assert done.sha256 == hashlib.sha256(body).hexdigest()
    assert done.expires_at > done.completed_at


def test_a_redelivered_message_for_a_finished_report_is_a_no_op(exporter, make_report, sessions):
    report = make_report()
    exporter.process(report.id)
    first = reload(sessions, report.id)

    assert exporter.process(report.id) is Outcome.SKIPPED

    again = reload(sessions, report.id)
    assert (again.attempts, again.completed_at, again.sha256) == (
        first.attempts,
        first.completed_at,
        first.sha256,
    )


def test_a_message_for_an_unknown_report_is_dead_lettered(exporter):
    assert exporter.process(uuid.uuid4()) is Outcome.UNKNOWN_REPORT


def test_parameters_that_no_longer_validate_fail_the_report_with_a_readable_error(
    exporter, make_report, sessions
):
    report = make_report(parameters={"fromDate": "2026-01-01"})  # bypasses the API's check

    assert exporter.process(report.id) is Outcome.FAILED

    failed = reload(sessions, report.id)
    assert failed.status == "Failed"
    assert failed.error_code == "invalid_parameters"
    assert "toDate" in failed.error_message
    assert failed.object_key is None


def test_a_report_with_a_live_lease_elsewhere_is_taken_over_once_the_lease_runs_out(
    exporter, make_report, sessions, settings
):
    report = make_report()
    with sessions.begin() as session:  # a worker that claimed it and died
        session.execute(
            text(
                "UPDATE reports SET status = 'Processing', attempts = 1, "
                "lease_expires_at = now() + interval '60 seconds' WHERE id = :id"
            ),
            {"id": report.id},
        )

    held = exporter.process(report.id)  # at once: the delivery is parked, not held
    with sessions.begin() as session:  # the dead worker's lease runs out
        session.execute(
            text("UPDATE reports SET lease_expires_at = now() WHERE id = :id"), {"id": report.id}
        )

    assert held is Outcome.HELD_ELSEWHERE
    assert exporter.process(report.id) is Outcome.COMPLETED
    done = reload(sessions, report.id)
    assert (done.status, done.attempts) == ("Completed", 2)


def test_a_duplicate_delivery_is_parked_and_frees_its_slot_for_the_next_message(
    own_queue, sessions, engine, make_report
):
    drain_queue(own_queue)
    settings = own_queue.with_overrides(worker_concurrency=1)
    held, behind = make_report(), make_report()
    holder = Lifecycle(engine, lease_seconds=120, retention_seconds=3600)
    assert holder.claim(held.id) is not None  # another worker exports it, for a long time
    relay = Relay(settings, sessions)
    while relay.run_once():  # held's message first, then behind's
        pass
    relay.close()
    stopping = threading.Event()
    lifecycle = Lifecycle(engine, settings.lease_seconds, 3600)
    worker = Worker(settings, Exporter(lifecycle, engine, Storage(settings)), stopping)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        # One slot: the message behind the duplicate is built while the holder still holds.
        behind_done = eventually(lambda: reload(sessions, behind.id).status == "Completed", 30)
        still_held = reload(sessions, held.id)
        with sessions.begin() as session:  # the holder dies: its lease runs out
            session.execute(
                text("UPDATE reports SET lease_expires_at = now() WHERE id = :id"),
                {"id": held.id},
            )
        # The parked copy comes back after a lease's length and takes the report over.
        held_done = eventually(lambda: reload(sessions, held.id).status == "Completed", 30)
    finally:
        worker.stop()
        thread.join(timeout=40)

    assert behind_done and (still_held.status, still_held.attempts) == ("Processing", 1)
    assert held_done and reload(sessions, held.id).attempts == 2
    assert queue_depth(own_queue, own_queue.dead_letter_queue) == 0


def test_the_worker_process_loop_consumes_builds_acks_and_dead_letters_poison(
    own_queue, sessions, engine, make_report
):
    drain_queue(own_queue)
    reports = [make_report(org=org) for org in ("acme", "globex", "acme")]
    relay = Relay(own_queue, sessions)
    while relay.run_once():
        pass
    relay.close()
    connection = pika.BlockingConnection(pika.URLParameters(own_queue.rabbitmq_url))
    connection.channel().basic_publish(
        own_queue.exchange,
        "report.requested",
        b"{not json",
        pika.BasicProperties(message_id="poison-1"),
    )
    connection.close()
    stopping = threading.Event()
    lifecycle = Lifecycle(engine, own_queue.lease_seconds, 3600)
    worker = Worker(own_queue, Exporter(lifecycle, engine, Storage(own_queue)), stopping)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        # The poison was published after the reports' messages, so it may still be on its
        # way to the dead-letter queue when the last report completes: wait for both.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            statuses = {reload(sessions, report.id).status for report in reports}
            dead_letters = queue_depth(own_queue, own_queue.dead_letter_queue)
            if statuses == {"Completed"} and dead_letters >= 1:
                break
            time.sleep(0.2)
    finally:
        worker.stop()
        thread.join(timeout=40)

    assert statuses == {"Completed"}
    assert not thread.is_alive()
    dead = drain_queue(own_queue, own_queue.dead_letter_queue)
    assert [properties.message_id for properties, _ in dead] == ["poison-1"]
    # Each of these reports' messages was acknowledged: nothing is left in the work queue.
    assert [json.loads(body)["reportId"] for _, body in drain_queue(own_queue)] == []

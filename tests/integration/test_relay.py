"""The relay against real PostgreSQL and RabbitMQ."""

from __future__ import annotations

import threading
import uuid

import pika
from sqlalchemy import select, text

from relay.relay import Relay
from shared.broker import OutgoingMessage, Publisher
from shared.messages import ReportRequested
from shared.models import OutboxMessage
from shared.outbox import claim_batch
from tests.integration.broker_helpers import drain_queue


def unpublished_ids(sessions) -> set[uuid.UUID]:
    with sessions() as session:
        return set(
            session.scalars(
                select(OutboxMessage.message_id).where(OutboxMessage.published_at.is_(None))
            )
        )


def test_a_published_message_arrives_persistent_with_its_properties(
    own_queue, sessions, make_report
):
    report = make_report()
    relay = Relay(own_queue, sessions)

    while relay.run_once():
        pass
    relay.close()

    arrived = {
        ReportRequested.decode(body).report_id: properties
        for properties, body in drain_queue(own_queue)
    }
    properties = arrived[report.id]
    assert properties.delivery_mode == 2
    assert properties.content_type == "application/json"
    assert properties.type == "report.requested"
    assert uuid.UUID(properties.message_id)
    assert not unpublished_ids(sessions)


def test_two_relays_claim_disjoint_rows(sessions, make_report):
    for _ in range(6):
        make_report()

    with sessions() as first, first.begin(), sessions() as second, second.begin():
        first_batch = claim_batch(first, 3)
        second_batch = claim_batch(second, 100)
        first_ids = {message.message_id for message in first_batch}
        second_ids = {message.message_id for message in second_batch}
        first.rollback()
        second.rollback()

    assert len(first_ids) == 3
    assert second_ids and not first_ids & second_ids


def test_two_relays_running_at_once_publish_each_row_exactly_once(own_queue, sessions, make_report):
    drain_queue(own_queue)  # earlier tests' rows are published to this queue too
    reports = {make_report().id for _ in range(300)}
    small_batches = own_queue.with_overrides(relay_batch_size=20)
    relays = [Relay(small_batches, sessions) for _ in range(2)]
    barrier = threading.Barrier(2)

    def drain(relay: Relay) -> None:
        barrier.wait()
        while relay.run_once():
            pass

    threads = [threading.Thread(target=drain, args=(relay,)) for relay in relays]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for relay in relays:
        relay.close()

    received = [ReportRequested.decode(body).report_id for _, body in drain_queue(own_queue)]
    ours = [report_id for report_id in received if report_id in reports]
    assert sorted(ours) == sorted(reports)
    assert not unpublished_ids(sessions)


def test_an_unroutable_message_is_not_confirmed_and_its_row_stays_unpublished(own_queue, sessions):
    publisher = Publisher(own_queue)
    connection = pika.BlockingConnection(pika.URLParameters(own_queue.rabbitmq_url))
    connection.channel().queue_unbind(
        own_queue.work_queue, own_queue.exchange, routing_key="report.requested"
    )
    connection.close()
    message = ReportRequested.new(uuid.uuid4())

    confirmed = publisher.publish(
        [OutgoingMessage(str(message.message_id), message.TYPE, message.encode())]
    )
    publisher.close()

    assert confirmed == set()


def test_the_claim_is_served_by_the_partial_index(sessions):
    with sessions() as session:
        session.execute(text("SET enable_seqscan = off"))
        plan = "\n".join(
            session.execute(
                text(
                    "EXPLAIN SELECT id FROM outbox WHERE published_at IS NULL "
                    "ORDER BY id LIMIT 500 FOR UPDATE SKIP LOCKED"
                )
            ).scalars()
        )

    assert "outbox_unpublished" in plan


def test_notify_wakes_a_waiting_relay_before_the_poll_interval(own_queue, sessions, make_report):
    slow_poll = own_queue.with_overrides(relay_poll_seconds=30)
    relay = Relay(slow_poll, sessions)
    # As Relay.run does: LISTEN first, then claim. Once listen() returns the LISTEN has run,
    # so the NOTIFY below reaches the relay whether or not the waiter already sleeps in it.
    relay.listen()
    while relay.run_once():
        pass
    woke = threading.Event()

    def wait() -> None:
        relay.wait_for_work()
        woke.set()

    waiter = threading.Thread(target=wait)
    waiter.start()
    make_report()

    assert woke.wait(timeout=20)  # well before the 30 s poll would have woken it
    waiter.join()
    relay.close()


def test_a_pass_is_bounded_and_a_row_committed_late_with_a_lower_id_goes_out_in_the_next(
    own_queue, sessions, make_report, engine
):
    # Claims within a pass start after the last one's rows. A row whose id was taken before
    # the others but whose commit came after the pass went by must still go out: the pass
    # ends within MAX_CLAIMS_PER_PASS claims, and the next one starts from the beginning.
    from api.auth import Principal
    from api.reports import admission
    from relay.relay import MAX_CLAIMS_PER_PASS
    from shared.catalog import get_report_type

    late = engine.raw_connection()  # the API's statement, in a transaction left open
    principal = Principal("late-committer", "acme", frozenset({"analyst"}))
    message = ReportRequested.new(uuid.uuid4())
    parameters = {"fromDate": "2026-01-01", "toDate": "2026-01-31"}
    values = admission.admit_parameters(
        principal, get_report_type("sessions"), "csv", parameters, message
    )
    late.driver_connection.execute(admission.ADMIT, values)  # its outbox id is taken now
    try:
        batch = 2
        timely = {make_report().id for _ in range(batch * MAX_CLAIMS_PER_PASS + 5)}
        relay = Relay(own_queue.with_overrides(relay_batch_size=batch), sessions)

        first_pass = relay.run_once()
        late.driver_connection.commit()
        while relay.run_once():
            pass
        relay.close()
    finally:
        late.close()

    assert first_pass == batch * MAX_CLAIMS_PER_PASS  # bounded, though rows were left
    received = {ReportRequested.decode(body).report_id for _, body in drain_queue(own_queue)}
    assert timely | {message.report_id} <= received
    assert not unpublished_ids(sessions)

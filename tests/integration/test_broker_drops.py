"""Relay and worker recover when the broker drops them on a live connection: a deleted queue
cancels the consumer, a protocol error closes the channel, publishes come back unroutable.
Each is treated like a lost connection: reconnect, declare the topology again, go on."""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Callable, Iterator

import pika
import pytest

from relay.relay import Relay
from shared.broker import BrokerUnavailable, Consumer, Delivery, OutgoingMessage, Publisher
from shared.config import Settings
from shared.messages import ReportRequested
from shared.models import Report
from shared.storage import Storage
from tests.integration.broker_helpers import drain_queue
from tests.integration.helpers import eventually, in_thread, published
from worker.exporter import Exporter
from worker.lifecycle import Lifecycle
from worker.worker import Worker

WAIT = 30.0  # seconds; generous, the machine is shared


class Outcome:
    """What a background call raised, once it returned."""

    def __init__(self, target: Callable[[], None]) -> None:
        self.error: BaseException | None = None
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(target,), daemon=True)
        self.thread.start()

    def _run(self, target: Callable[[], None]) -> None:
        try:
            target()
        except BaseException as exc:
            self.error = exc
        finally:
            self.done.set()


def broker_channel(settings: Settings) -> tuple[pika.BlockingConnection, object]:
    connection = pika.BlockingConnection(pika.URLParameters(settings.rabbitmq_url))
    return connection, connection.channel()


def delete_queue(settings: Settings, queue: str) -> None:
    connection, channel = broker_channel(settings)
    channel.queue_delete(queue)
    connection.close()


def consumers(settings: Settings) -> int:
    """Consumers on the work queue; 0 while it does not exist."""
    connection, channel = broker_channel(settings)
    try:
        return channel.queue_declare(settings.work_queue, passive=True).method.consumer_count
    except pika.exceptions.ChannelClosedByBroker:
        return 0
    finally:
        if connection.is_open:
            connection.close()


def publish_request(settings: Settings) -> str:
    """One report.requested message straight into the work exchange; its message id."""
    message = ReportRequested.new(uuid.uuid4())
    connection, channel = broker_channel(settings)
    channel.confirm_delivery()
    channel.basic_publish(
        settings.exchange,
        "report.requested",
        message.encode(),
        pika.BasicProperties(message_id=str(message.message_id), type=message.TYPE),
        mandatory=True,
    )
    connection.close()
    return str(message.message_id)


@contextlib.contextmanager
def consume_in_background(
    settings: Settings, on_delivery: Callable[[Delivery], None], **options: float
) -> Iterator[tuple[Consumer, Outcome]]:
    """A consumer serving on a thread of its own; stopped and closed when the block ends."""
    consumer = Consumer(settings, 1, on_delivery, **options)
    outcome = Outcome(consumer.run)
    try:
        yield consumer, outcome
    finally:
        consumer.stop()
        outcome.done.wait(WAIT)
        consumer.close()


def test_a_consumer_the_broker_stopped_delivering_to_without_a_cancel_leaves_run(own_queue):
    # RabbitMQ 3.10 once kept a consumer registered on a quorum queue that was deleted and
    # at once re-declared, sent no basic.cancel, and nothing reached it any more. Stopping
    # the consumer behind its own back leaves it in that state: alive, told nothing, deaf.
    with consume_in_background(own_queue, lambda delivery: delivery.ack(), probe_seconds=0.5) as (
        consumer,
        outcome,
    ):
        consumer.call_soon(consumer.cancel)
        assert eventually(lambda: consumers(own_queue) == 0, WAIT)
        publish_request(own_queue)

        assert outcome.done.wait(WAIT), "run() still serves a consumer nothing reaches"
        assert isinstance(outcome.error, BrokerUnavailable)
        assert "none arrive" in str(outcome.error)


def test_a_busy_consumer_with_messages_waiting_is_not_taken_for_a_stalled_one(own_queue):
    held: list[Delivery] = []  # the one prefetch slot stays taken: nothing else may arrive
    with consume_in_background(own_queue, held.append, probe_seconds=0.2) as (_, outcome):
        publish_request(own_queue)
        publish_request(own_queue)
        assert eventually(lambda: len(held) == 1, WAIT)

        # Ten probe intervals with one message ready that cannot be delivered here.
        assert not outcome.done.wait(2.0), outcome.error
        assert len(held) == 1


def test_a_consumer_whose_queue_is_deleted_leaves_run_with_broker_unavailable(own_queue):
    with consume_in_background(own_queue, lambda delivery: delivery.ack()) as (_, outcome):
        delete_queue(own_queue, own_queue.work_queue)

        assert outcome.done.wait(WAIT), "run() still serves a cancelled consumer"
        assert isinstance(outcome.error, BrokerUnavailable)
        assert "cancelled" in str(outcome.error)


def test_a_consumer_whose_channel_the_broker_closes_leaves_run_with_broker_unavailable(own_queue):
    def ack_twice(delivery: Delivery) -> None:
        delivery.ack()
        delivery.ack()  # an unknown delivery tag by then: the broker closes the channel (406)

    with consume_in_background(own_queue, ack_twice) as (_, outcome):
        publish_request(own_queue)

        assert outcome.done.wait(WAIT), "run() still serves a channel the broker closed"
        assert isinstance(outcome.error, BrokerUnavailable)
        assert "PRECONDITION_FAILED" in str(outcome.error)


@pytest.fixture
def running_worker(own_queue, sessions, engine):
    stopping = threading.Event()
    settings = own_queue.with_overrides(retry_backoff_base_seconds=0.2)
    lifecycle = Lifecycle(engine, settings.lease_seconds, 3600)
    worker = Worker(settings, Exporter(lifecycle, engine, Storage(settings)), stopping)
    thread = in_thread(worker.run)
    assert eventually(lambda: consumers(own_queue) == 1, WAIT)
    yield worker
    worker.stop()
    thread.join(timeout=40)
    assert not thread.is_alive()


def build(own_queue: Settings, sessions, make_report) -> Report:
    """A new report, published by a relay and built by the running worker."""
    report = make_report()
    relay = Relay(own_queue, sessions)
    try:
        assert eventually(lambda: relay.run_once() >= 0 and published(sessions, [report.id]), WAIT)
    finally:
        relay.close()

    def completed() -> bool:
        with sessions() as session:
            return session.get(Report, report.id).status == "Completed"

    assert eventually(completed, WAIT)
    return report


def test_a_worker_whose_queue_is_deleted_declares_it_again_and_builds_new_reports(
    own_queue, sessions, make_report, running_worker
):
    delete_queue(own_queue, own_queue.work_queue)

    # The worker, not the relay, brings the queue back: it consumes from it again.
    assert eventually(lambda: consumers(own_queue) == 1, WAIT)
    build(own_queue, sessions, make_report)


def test_a_worker_whose_channel_the_broker_closes_reconnects_and_builds_new_reports(
    own_queue, sessions, make_report, running_worker
):
    consumer = running_worker._consumer
    # An ack of a delivery tag this channel never issued, as a faulty path would send it.
    consumer.call_soon(lambda: consumer._channel.basic_ack(delivery_tag=10_000))

    assert eventually(lambda: running_worker._consumer not in (None, consumer), WAIT)
    build(own_queue, sessions, make_report)


def test_a_publish_returned_unroutable_makes_the_relay_declare_the_topology_before_it_retries(
    own_queue, sessions, make_report
):
    relay = Relay(own_queue, sessions)
    try:
        while relay.run_once():  # connected and declared, with nothing left to publish
            pass
        delete_queue(own_queue, own_queue.work_queue)
        report = make_report()

        relay.run_once()
        assert not published(sessions, [report.id])  # returned: the row stays unpublished

        relay.run_once()
        assert published(sessions, [report.id])
    finally:
        relay.close()
    arrived = {ReportRequested.decode(body).report_id for _, body in drain_queue(own_queue)}
    assert report.id in arrived


def test_a_publish_to_a_deleted_exchange_fails_at_once_naming_the_broker_reason(own_queue):
    publisher = Publisher(own_queue)
    connection, channel = broker_channel(own_queue)
    channel.exchange_delete(own_queue.exchange)
    connection.close()
    message = ReportRequested.new(uuid.uuid4())
    try:
        with pytest.raises(BrokerUnavailable, match="NOT_FOUND"):
            publisher.publish(
                [OutgoingMessage(str(message.message_id), message.TYPE, message.encode())]
            )
    finally:
        publisher.close()


def test_a_retry_returned_unroutable_declares_the_retry_queue_again_for_the_next(own_queue):
    results: list[str] = []

    def retry_thrice(delivery: Delivery) -> None:
        def work() -> None:  # off the I/O thread, as the worker's pool does
            for attempt in range(3):
                try:  # publish_retry alone: retry_later would ack the same delivery thrice
                    delivery._consumer.publish_retry(delivery, 60, delivery.retries + 1)
                    results.append("parked")
                except BrokerUnavailable:
                    results.append("returned")
                if attempt == 0:  # the first retry declared the queue; it goes away now
                    delete_queue(own_queue, own_queue.retry_queue)

        threading.Thread(target=work, daemon=True).start()

    with consume_in_background(own_queue, retry_thrice):
        publish_request(own_queue)
        assert eventually(lambda: len(results) == 3, WAIT)
    assert results == ["parked", "returned", "parked"]

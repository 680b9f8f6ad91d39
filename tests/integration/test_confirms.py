"""Publisher confirms against the real RabbitMQ: confirm mode and confirms within a
deadline, routed and returned publishes told apart, a closed channel's publishes handed back."""

from __future__ import annotations

import time
import uuid
from urllib.parse import urlsplit

import pika
import pytest

from shared.broker import BrokerUnavailable, OutgoingMessage, Publisher
from shared.broker.confirms import ConfirmingChannel, Outcome, Settlement
from shared.messages import ReportRequested
from tests.faultproxy import fault_proxy
from tests.integration.broker_helpers import drain_queue
from tests.integration.helpers import via_proxy_amqp

LATENCY = 0.5  # seconds the proxy holds every chunk, each way: a reply takes twice that


@pytest.fixture
def proxied(own_queue):
    """(the fault proxy, own_queue's settings with RabbitMQ reached through it)."""
    rabbit = urlsplit(own_queue.rabbitmq_url)
    with fault_proxy(rabbit.hostname, rabbit.port) as proxy:
        yield (
            proxy,
            own_queue.with_overrides(
                rabbitmq_url=via_proxy_amqp(own_queue.rabbitmq_url, proxy.port)
            ),
        )


def a_message() -> OutgoingMessage:
    message = ReportRequested.new(uuid.uuid4())
    return OutgoingMessage(str(message.message_id), message.TYPE, message.encode())


@pytest.mark.timeout(60)
def test_a_channel_that_does_not_enter_confirm_mode_in_time_raises_instead_of_waiting(proxied):
    proxy, settings = proxied
    connection = pika.BlockingConnection(pika.URLParameters(settings.rabbitmq_url))
    try:
        channel = connection.channel()
        proxy.latency = LATENCY  # confirm.select-ok cannot come back before 2 * LATENCY
        started = time.monotonic()

        with pytest.raises(BrokerUnavailable, match=r"did not enter confirm mode within 0\.2s"):
            ConfirmingChannel(connection, channel, lambda _settled: None, timeout=0.2)

        assert time.monotonic() - started < 2 * LATENCY
    finally:
        connection.close()


@pytest.mark.timeout(60)
def test_a_publisher_on_a_slow_broker_gives_up_on_confirm_mode_at_its_deadline(proxied):
    proxy, settings = proxied
    proxy.latency = 0.1  # every reply, confirm.select-ok too, takes 0.2 s or more

    with pytest.raises(BrokerUnavailable, match="did not enter confirm mode"):
        Publisher(settings, confirm_timeout=0.1)


@pytest.mark.timeout(60)
def test_confirms_that_do_not_arrive_in_time_raise_broker_unavailable(proxied):
    proxy, settings = proxied
    publisher = Publisher(settings, confirm_timeout=0.2)
    try:
        proxy.latency = LATENCY
        batch = publisher.send([a_message()])

        with pytest.raises(BrokerUnavailable, match="1 confirms did not arrive in time"):
            publisher.settle(batch)
    finally:
        publisher.close()


def test_a_routed_publish_is_confirmed_and_one_to_no_queue_comes_back_unroutable(own_queue):
    connection = pika.BlockingConnection(pika.URLParameters(own_queue.rabbitmq_url))
    settled: list[Settlement[str]] = []
    try:
        channel = ConfirmingChannel(connection, connection.channel(), settled.extend)
        for queue, key in [(own_queue.work_queue, "routed"), (f"none-{uuid.uuid4()}", "lost")]:
            properties = pika.BasicProperties(message_id=key)
            channel.publish("", queue, b"{}", properties, key, subject=queue)

        assert channel.wait(lambda: len(settled) == 2)
    finally:
        connection.close()
    # In either order: the return is acked at once, the quorum queue's copy once stored.
    assert {(item.key, item.outcome) for item in settled} == {
        ("routed", Outcome.CONFIRMED),
        ("lost", Outcome.UNROUTABLE),
    }
    assert len(drain_queue(own_queue)) == 1


def test_a_channel_the_broker_closes_hands_back_what_was_in_flight(own_queue):
    connection = pika.BlockingConnection(pika.URLParameters(own_queue.rabbitmq_url))
    closed: list[tuple[Exception, list[tuple[str, str]]]] = []
    try:
        channel = ConfirmingChannel(
            connection,
            connection.channel(),
            lambda _settled: None,
            lambda reason, abandoned: closed.append((reason, abandoned)),
        )
        channel.publish(
            f"none-{uuid.uuid4()}", "x", b"{}", pika.BasicProperties(), "orphan", "its batch"
        )

        with pytest.raises(BrokerUnavailable, match="NOT_FOUND"):
            channel.wait(lambda: False)
    finally:
        connection.close()
    [(reason, abandoned)] = closed
    assert "NOT_FOUND" in repr(reason)
    assert abandoned == [("orphan", "its batch")]

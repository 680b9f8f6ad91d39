"""The one module that talks to RabbitMQ: topology, confirmed publishing, consuming.

Every pika error leaves this module as BrokerUnavailable.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection

from shared.config import Settings
from shared.messages import CONTENT_TYPE

log = logging.getLogger(__name__)

ROUTING_KEY = "report.requested"
HEARTBEAT = 30  # seconds; the I/O thread keeps answering while exports run elsewhere
DELIVERY_LIMIT = 10  # redeliveries before a message is dead-lettered; 4.0 defaults to 20
CONFIRM_TIMEOUT = 30.0  # seconds to wait for the broker to confirm one batch


class BrokerUnavailable(RuntimeError):
    """RabbitMQ could not be reached, or it dropped the connection or channel."""


def _connect(settings: Settings) -> BlockingConnection:
    parameters = pika.URLParameters(settings.rabbitmq_url)
    parameters.heartbeat = HEARTBEAT
    parameters.blocked_connection_timeout = 60
    parameters.connection_attempts = 1
    parameters.socket_timeout = 5
    try:
        return pika.BlockingConnection(parameters)
    except pika.exceptions.AMQPError as exc:
        raise BrokerUnavailable(f"cannot connect to RabbitMQ: {exc!r}") from exc


def declare_topology(channel: BlockingChannel, settings: Settings) -> None:
    """Declare exchange, work queue and dead-letter queue; safe to repeat.

    Quorum queues exist on 3.8+; delivery-limit is set explicitly because its default
    changed in 4.0 (unlimited before, 20 after).
    """
    channel.exchange_declare(settings.exchange, exchange_type="direct", durable=True)
    channel.exchange_declare(settings.dead_letter_exchange, exchange_type="fanout", durable=True)
    channel.queue_declare(
        settings.dead_letter_queue, durable=True, arguments={"x-queue-type": "quorum"}
    )
    channel.queue_bind(settings.dead_letter_queue, settings.dead_letter_exchange)
    channel.queue_declare(
        settings.work_queue,
        durable=True,
        arguments={
            "x-queue-type": "quorum",
            "x-delivery-limit": DELIVERY_LIMIT,
            "x-dead-letter-exchange": settings.dead_letter_exchange,
        },
    )
    channel.queue_bind(settings.work_queue, settings.exchange, routing_key=ROUTING_KEY)


@dataclass(frozen=True)
class OutgoingMessage:
    message_id: str
    message_type: str
    body: bytes


class Publisher:
    """Publishes batches with publisher confirms, many messages in flight at once.

    BlockingChannel.confirm_delivery() waits for each confirm before the next publish
    (about 300 messages/s into a quorum queue here, against about 9,000/s pipelined), so
    the batch is published on the channel's underlying asynchronous channel and the
    confirms are collected as they arrive. `_impl` is the one pika internal used; pika is
    pinned below 2 for it.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._connection = _connect(settings)
        try:
            self._channel = self._connection.channel()
            declare_topology(self._channel, settings)
            self._impl = self._channel._impl
            self._impl.add_on_return_callback(self._on_return)
            ready = threading.Event()
            self._impl.confirm_delivery(
                ack_nack_callback=self._on_confirm, callback=lambda _frame: ready.set()
            )
            while not ready.is_set():
                self._connection.process_data_events(time_limit=0.01)
        except pika.exceptions.AMQPError as exc:
            self.close()
            raise BrokerUnavailable(f"cannot open a publishing channel: {exc!r}") from exc
        self._next_tag = 0
        self._outstanding: dict[int, str] = {}
        self._confirmed: set[str] = set()
        self._returned: set[str] = set()

    def publish(self, messages: Sequence[OutgoingMessage]) -> set[str]:
        """Publish persistent and mandatory; return the ids the broker confirmed and routed.

        A message that was nacked, returned as unroutable or not confirmed in time is
        left out, so its outbox row stays unpublished and is tried again.
        """
        self._outstanding.clear()
        self._confirmed.clear()
        self._returned.clear()
        try:
            for message in messages:
                self._impl.basic_publish(
                    self._settings.exchange,
                    ROUTING_KEY,
                    message.body,
                    pika.BasicProperties(
                        delivery_mode=pika.DeliveryMode.Persistent,
                        content_type=CONTENT_TYPE,
                        message_id=message.message_id,
                        type=message.message_type,
                        timestamp=int(time.time()),
                    ),
                    mandatory=True,
                )
                self._next_tag += 1
                self._outstanding[self._next_tag] = message.message_id
            deadline = time.monotonic() + CONFIRM_TIMEOUT
            while self._outstanding and time.monotonic() < deadline:
                self._connection.process_data_events(time_limit=0.005)
        except pika.exceptions.AMQPError as exc:
            raise BrokerUnavailable(f"publishing failed: {exc!r}") from exc
        if self._outstanding:
            raise BrokerUnavailable(f"{len(self._outstanding)} confirms did not arrive in time")
        return self._confirmed - self._returned

    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        acked = isinstance(method, pika.spec.Basic.Ack)
        tags = (
            [tag for tag in self._outstanding if tag <= method.delivery_tag]
            if method.multiple
            else [method.delivery_tag]
        )
        for tag in tags:
            message_id = self._outstanding.pop(tag, None)
            if message_id is not None and acked:
                self._confirmed.add(message_id)
            elif message_id is not None:
                log.warning("broker.nacked message_id=%s", message_id)

    def _on_return(self, _channel: Any, method: Any, properties: Any, _body: bytes) -> None:
        # RabbitMQ sends basic.return before the basic.ack of the same message.
        log.error(
            "broker.unroutable message_id=%s reply=%s %s",
            properties.message_id,
            method.reply_code,
            method.reply_text,
        )
        self._returned.add(properties.message_id)

    def close(self) -> None:
        try:
            if self._connection.is_open:
                self._connection.close()
        except pika.exceptions.AMQPError:
            pass


class Delivery:
    """One received message. ack() and reject() may be called from any thread."""

    def __init__(
        self,
        consumer: Consumer,
        channel: BlockingChannel,
        method: Any,
        properties: Any,
        body: bytes,
    ) -> None:
        self._consumer = consumer
        self._channel = channel
        self.delivery_tag: int = method.delivery_tag
        self.redelivered: bool = method.redelivered
        self.message_id: str | None = properties.message_id
        self.body = body

    def ack(self) -> None:
        self._consumer.call_soon(lambda: self._channel.basic_ack(self.delivery_tag))

    def reject(self, *, requeue: bool) -> None:
        self._consumer.call_soon(
            lambda: self._channel.basic_reject(self.delivery_tag, requeue=requeue)
        )


class Consumer:
    """Receives from the work queue on one thread and hands each delivery to `on_delivery`.

    `on_delivery` must return quickly (hand the work to another thread); the I/O loop
    keeps heartbeats flowing meanwhile. Acks that arrive after the connection was lost
    are dropped: the broker redelivers those messages, and handlers are idempotent.
    """

    def __init__(
        self, settings: Settings, prefetch: int, on_delivery: Callable[[Delivery], None]
    ) -> None:
        self._settings = settings
        self._on_delivery = on_delivery
        self._stopping = threading.Event()
        self._connection = _connect(settings)
        try:
            self._channel = self._connection.channel()
            declare_topology(self._channel, settings)
            self._channel.basic_qos(prefetch_count=prefetch)
            self._consumer_tag = self._channel.basic_consume(settings.work_queue, self._deliver)
        except pika.exceptions.AMQPError as exc:
            self.close()
            raise BrokerUnavailable(f"cannot start consuming: {exc!r}") from exc

    def _deliver(self, channel: BlockingChannel, method: Any, properties: Any, body: bytes) -> None:
        self._on_delivery(Delivery(self, channel, method, properties, body))

    def call_soon(self, callback: Callable[[], None]) -> None:
        def guarded() -> None:
            try:
                callback()
            except pika.exceptions.AMQPError as exc:
                log.warning("broker.ack_lost error=%r", exc)

        try:
            self._connection.add_callback_threadsafe(guarded)
        except pika.exceptions.AMQPError as exc:
            log.warning("broker.ack_lost error=%r", exc)

    def run(self) -> None:
        """Serve until stop(); raises BrokerUnavailable when the connection is lost."""
        try:
            while not self._stopping.is_set():
                self._connection.process_data_events(time_limit=0.5)
        except pika.exceptions.AMQPError as exc:
            raise BrokerUnavailable(f"consumer connection lost: {exc!r}") from exc

    def drain(self, until: Callable[[], bool], timeout: float) -> None:
        """Keep the I/O loop turning (acks, heartbeats) until `until()` or the timeout."""
        deadline = time.monotonic() + timeout
        try:
            while not until() and time.monotonic() < deadline:
                self._connection.process_data_events(time_limit=0.1)
        except pika.exceptions.AMQPError as exc:
            log.warning("broker.drain_lost error=%r", exc)

    def cancel(self) -> None:
        """Stop receiving; prefetched deliveries not yet handed over go back to the queue."""
        try:
            self._channel.basic_cancel(self._consumer_tag)
        except pika.exceptions.AMQPError as exc:
            log.warning("broker.cancel_failed error=%r", exc)

    def stop(self) -> None:
        self._stopping.set()

    def close(self) -> None:
        try:
            if self._connection.is_open:
                self._connection.close()
        except pika.exceptions.AMQPError:
            pass

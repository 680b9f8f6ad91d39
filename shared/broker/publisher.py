"""Publishing outbox messages with publisher confirms, many in flight at once."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pika
import pika.exceptions

from shared.broker.connection import CONFIRM_TIMEOUT, BrokerUnavailable, connect, settled_tags
from shared.broker.topology import ROUTING_KEY, declare_topology
from shared.config import Settings
from shared.messages import CONTENT_TYPE

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutgoingMessage:
    message_id: str
    message_type: str
    body: bytes
    report_id: str | None = None  # for the logs: which report this message asks for
    outbox_id: int = 0  # its outbox row's id, where the relay's next claim starts


@dataclass(eq=False)
class Batch:
    """Messages sent together whose confirms are awaited together (Publisher.send/settle)."""

    unsettled: int = 0
    confirmed: set[str] = field(default_factory=set)
    unroutable: set[str] = field(default_factory=set)  # returned: no queue is bound


class Publisher:
    """Publishes batches with publisher confirms, many messages in flight at once.

    BlockingChannel.confirm_delivery() waits for each confirm before the next publish
    (about 300 messages/s into a quorum queue here, against about 9,000/s pipelined), so
    batches are published on the channel's underlying asynchronous channel and the
    confirms are collected as they arrive. send() returns at once, so the caller may send
    a second batch while the broker still confirms the first. `_impl` is the one pika
    internal used; pika is pinned below 2 for it.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._closed_by: Exception | None = None
        self._connection = connect(settings)
        try:
            self._channel = declare_topology(self._connection.channel(), settings)
            self._impl = self._channel._impl
            self._impl.add_on_return_callback(self._on_return)
            self._impl.add_on_close_callback(self._on_channel_closed)
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
        # Every message sent and not yet confirmed, in tag order (dicts keep insertion order).
        self._outstanding: dict[int, tuple[Batch, str]] = {}
        self._returned: set[str] = set()  # returned, their batch not yet settled

    def publish(self, messages: Sequence[OutgoingMessage]) -> set[str]:
        """Publish persistent and mandatory; return the ids the broker confirmed and routed.

        A message that was nacked, returned as unroutable or not confirmed in time is
        left out, so its outbox row stays unpublished and is tried again.
        """
        return self.settle(self.send(messages))

    def send(self, messages: Sequence[OutgoingMessage]) -> Batch:
        """Publish the messages without waiting; settle() the batch for its confirms."""
        if not self._impl.is_open:
            raise BrokerUnavailable(f"the publishing channel is closed: {self._closed_by!r}")
        batch = Batch()
        timestamp = int(time.time())
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
                        timestamp=timestamp,
                    ),
                    mandatory=True,
                )
                self._next_tag += 1
                self._outstanding[self._next_tag] = (batch, message.message_id)
                batch.unsettled += 1
        except pika.exceptions.AMQPError as exc:
            raise BrokerUnavailable(f"publishing failed: {exc!r}") from exc
        return batch

    def settle(self, batch: Batch) -> set[str]:
        """Wait for the batch's confirms; the ids confirmed and routed (see publish())."""
        try:
            deadline = time.monotonic() + CONFIRM_TIMEOUT
            while batch.unsettled and time.monotonic() < deadline and self._impl.is_open:
                self._connection.process_data_events(time_limit=0.005)
        except pika.exceptions.AMQPError as exc:
            raise BrokerUnavailable(f"publishing failed: {exc!r}") from exc
        if not self._impl.is_open:
            # A publish to an exchange that no longer exists closes the channel: no confirm
            # will come, so say why now instead of at the deadline.
            raise BrokerUnavailable(
                f"the broker closed the publishing channel: {self._closed_by!r}"
            )
        if batch.unsettled:
            raise BrokerUnavailable(f"{batch.unsettled} confirms did not arrive in time")
        return batch.confirmed - batch.unroutable

    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        acked = isinstance(method, pika.spec.Basic.Ack)
        for tag in settled_tags(self._outstanding, method.delivery_tag, method.multiple):
            batch, message_id = self._outstanding.pop(tag, (None, None))
            if batch is None:
                continue
            batch.unsettled -= 1
            if message_id in self._returned:
                self._returned.discard(message_id)
                batch.unroutable.add(message_id)
            if acked:
                batch.confirmed.add(message_id)
            else:
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

    def check_connection(self) -> None:
        """Read what the broker sent meanwhile: a connection it closed, or that a cut dropped,
        raises BrokerUnavailable here instead of at the next publish, which an idle relay
        may not make for hours. Heartbeats are answered on the way."""
        try:
            self._connection.process_data_events(time_limit=0)
        except pika.exceptions.AMQPError as exc:
            raise BrokerUnavailable(f"the connection to RabbitMQ was lost: {exc!r}") from exc
        if not self._impl.is_open:
            raise BrokerUnavailable(
                f"the broker closed the publishing channel: {self._closed_by!r}"
            )

    def declare_topology(self) -> None:
        """Declare exchanges, queues and bindings again, on a channel of their own: one
        that finds a queue with other arguments is closed by the broker, and the
        publishing channel must stay in confirm mode."""
        try:
            channel = declare_topology(self._connection.channel(), self._settings)
            channel.close()
        except pika.exceptions.AMQPError as exc:
            raise BrokerUnavailable(f"cannot declare the topology: {exc!r}") from exc

    def _on_channel_closed(self, _channel: Any, reason: Exception) -> None:
        self._closed_by = reason

    def close(self) -> None:
        try:
            if self._connection.is_open:
                self._connection.close()
        except pika.exceptions.AMQPError:
            pass

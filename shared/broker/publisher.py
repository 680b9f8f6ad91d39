"""Publishing outbox messages with publisher confirms, many in flight at once."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import pika
import pika.exceptions

from shared.broker.confirms import ConfirmingChannel, Outcome, Settlement
from shared.broker.connection import CONFIRM_TIMEOUT, BrokerUnavailable, connect
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
    batches go out on a ConfirmingChannel and the confirms are collected as they arrive.
    send() returns at once, so the caller may send a second batch while the broker still
    confirms the first. `confirm_timeout` bounds both the wait for confirm mode and the
    wait for one batch's confirms.
    """

    def __init__(self, settings: Settings, confirm_timeout: float = CONFIRM_TIMEOUT) -> None:
        self._settings = settings
        self._connection = connect(settings)
        try:
            self._channel: ConfirmingChannel[Batch] = ConfirmingChannel(
                self._connection,
                declare_topology(self._connection.channel(), settings),
                self._on_settled,
                timeout=confirm_timeout,
            )
        except (pika.exceptions.AMQPError, BrokerUnavailable) as exc:
            self.close()
            raise BrokerUnavailable(f"cannot open a publishing channel: {exc!r}") from exc

    def publish(self, messages: Sequence[OutgoingMessage]) -> set[str]:
        """Publish persistent and mandatory; return the ids the broker confirmed and routed.

        A message that was nacked, returned as unroutable or not confirmed in time is
        left out, so its outbox row stays unpublished and is tried again.
        """
        return self.settle(self.send(messages))

    def send(self, messages: Sequence[OutgoingMessage]) -> Batch:
        """Publish the messages without waiting; settle() the batch for its confirms."""
        channel = self._channel
        if not channel.is_open:
            raise BrokerUnavailable(f"the publishing channel is closed: {channel.closed_by!r}")
        batch = Batch()
        timestamp = int(time.time())
        try:
            for message in messages:
                channel.publish(
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
                    message.message_id,
                    batch,
                )
                batch.unsettled += 1
        except pika.exceptions.AMQPError as exc:
            raise BrokerUnavailable(f"publishing failed: {exc!r}") from exc
        return batch

    def settle(self, batch: Batch) -> set[str]:
        """Wait for the batch's confirms; the ids confirmed and routed (see publish())."""
        if not self._channel.wait(lambda: not batch.unsettled):
            raise BrokerUnavailable(f"{batch.unsettled} confirms did not arrive in time")
        return batch.confirmed - batch.unroutable

    def _on_settled(self, settlements: list[Settlement[Batch]]) -> None:
        for message_id, batch, outcome in settlements:
            batch.unsettled -= 1
            if outcome is Outcome.CONFIRMED:
                batch.confirmed.add(message_id)
            elif outcome is Outcome.UNROUTABLE:
                batch.unroutable.add(message_id)
            else:
                log.warning("broker.nacked message_id=%s", message_id)

    def check_connection(self) -> None:
        """Read what the broker sent meanwhile: a connection it closed, or that a cut dropped,
        raises BrokerUnavailable here instead of at the next publish, which an idle relay
        may not make for hours. Heartbeats are answered on the way."""
        try:
            self._connection.process_data_events(time_limit=0)
        except pika.exceptions.AMQPError as exc:
            raise BrokerUnavailable(f"the connection to RabbitMQ was lost: {exc!r}") from exc
        if not self._channel.is_open:
            raise BrokerUnavailable(
                f"the broker closed the publishing channel: {self._channel.closed_by!r}"
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

    def close(self) -> None:
        try:
            if self._connection.is_open:
                self._connection.close()
        except pika.exceptions.AMQPError:
            pass

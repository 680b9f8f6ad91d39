"""Publisher confirms: which publish a basic.ack, basic.nack or basic.return settles.

ConfirmTracker is the bookkeeping alone (no I/O; tests/unit/test_confirms.py covers it
exhaustively). ConfirmingChannel puts a pika channel in confirm mode within a deadline,
feeds the tracker from the broker's frames and hands each settlement to its owner: the
relay's Publisher (a Batch per message) and the worker's retry sender (a Future).
"""

from __future__ import annotations

import enum
import itertools
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, Generic, NamedTuple, TypeVar

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection

from shared.broker.connection import CONFIRM_TIMEOUT, BrokerUnavailable

log = logging.getLogger(__name__)

Subject = TypeVar("Subject")

# How long one turn of the I/O loop may block while a deadline is waited on; short, so a
# confirm is seen soon after it arrives.
POLL_SECONDS = 0.005


class Outcome(enum.Enum):
    CONFIRMED = "confirmed"  # acked, and routed to a queue
    NACKED = "nacked"  # the broker could not take it
    UNROUTABLE = "unroutable"  # returned: no queue is bound (its ack or nack adds nothing)


class Settlement(NamedTuple, Generic[Subject]):
    key: str
    subject: Subject
    outcome: Outcome


def settled_tags(outstanding: Iterable[int], delivery_tag: int, multiple: bool) -> list[int]:
    """The publish tags a basic.ack or basic.nack settles: one, or all up to it (multiple).

    `outstanding` is in ascending tag order (a dict filled as messages are published), so
    a multiple ack stops at the first later tag instead of scanning every one in flight.
    """
    if not multiple:
        return [delivery_tag]
    return list(itertools.takewhile(lambda tag: tag <= delivery_tag, outstanding))


class ConfirmTracker(Generic[Subject]):
    """Publishes not yet confirmed, by delivery tag, and what the broker said of each.

    The broker numbers a confirm-mode channel's publishes 1, 2, 3...; sent() numbers them
    the same way, so it must be called once per basic.publish, in order. `key` names the
    message in a basic.return (whose frame carries no delivery tag) and must be unique
    among those in flight; `subject` is whatever its owner wants back with the outcome.
    """

    def __init__(self) -> None:
        self._last_tag = 0
        # In tag order (dicts keep insertion order), which settled_tags relies on.
        self._outstanding: dict[int, tuple[str, Subject]] = {}
        self._returned: set[str] = set()  # returned, their ack or nack not yet here

    def __len__(self) -> int:
        return len(self._outstanding)

    def sent(self, key: str, subject: Subject) -> int:
        """Record the next publish; its delivery tag."""
        self._last_tag += 1
        self._outstanding[self._last_tag] = (key, subject)
        return self._last_tag

    def returned(self, key: str) -> None:
        # RabbitMQ sends basic.return before the basic.ack or basic.nack of the same message.
        self._returned.add(key)

    def settle(self, delivery_tag: int, multiple: bool, acked: bool) -> list[Settlement[Subject]]:
        """What one basic.ack (acked) or basic.nack settles; a tag already settled (or never
        sent) is passed over."""
        settlements = []
        for tag in settled_tags(self._outstanding, delivery_tag, multiple):
            entry = self._outstanding.pop(tag, None)
            if entry is None:
                continue
            key, subject = entry
            if key in self._returned:
                self._returned.discard(key)
                outcome = Outcome.UNROUTABLE
            else:
                outcome = Outcome.CONFIRMED if acked else Outcome.NACKED
            settlements.append(Settlement(key, subject, outcome))
        return settlements

    def abandon(self) -> list[tuple[str, Subject]]:
        """Forget every publish in flight (the channel closed: no confirm will come); what was."""
        abandoned = list(self._outstanding.values())
        self._outstanding.clear()
        self._returned.clear()
        return abandoned


class ConfirmingChannel(Generic[Subject]):
    """A channel in confirm mode whose mandatory publishes are tracked until settled.

    `on_settled` gets the settlements of each basic.ack or basic.nack; `on_closed` the
    reason and what was in flight when the channel closed; both run on the connection's
    I/O thread, inside process_data_events. `key_property` names the message property
    that carries each publish's key, so a basic.return finds it.
    BlockingChannel.confirm_delivery() would wait for each confirm before the next
    publish, so the channel's asynchronous `_impl` is used: many publishes in flight at
    once (the one pika internal used; pika is pinned below 2 for it).
    """

    def __init__(
        self,
        connection: BlockingConnection,
        channel: BlockingChannel,
        on_settled: Callable[[list[Settlement[Subject]]], None],
        on_closed: Callable[[Exception, list[tuple[str, Subject]]], None] = lambda *_: None,
        timeout: float = CONFIRM_TIMEOUT,
        key_property: str = "message_id",
    ) -> None:
        """Enter confirm mode; raises BrokerUnavailable if the broker has not said so within
        `timeout` seconds, or closed the channel instead."""
        self._connection = connection
        self._impl = channel._impl
        self._on_settled = on_settled
        self._on_closed = on_closed
        self.timeout = timeout
        self._key_property = key_property
        self.closed_by: Exception | None = None
        self.tracker: ConfirmTracker[Subject] = ConfirmTracker()
        self._impl.add_on_return_callback(self._on_return)
        self._impl.add_on_close_callback(self._on_close)
        entered = []
        self._impl.confirm_delivery(
            ack_nack_callback=self._on_confirm, callback=lambda _frame: entered.append(True)
        )
        if not self.wait(lambda: bool(entered)):
            raise BrokerUnavailable(f"the channel did not enter confirm mode within {timeout}s")

    @property
    def is_open(self) -> bool:
        is_open: bool = self._impl.is_open  # pika's channel, untyped
        return is_open

    def publish(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        properties: pika.BasicProperties,
        key: str,
        subject: Subject,
    ) -> None:
        """Publish mandatory (an unroutable message comes back); pika errors are the caller's."""
        self._impl.basic_publish(exchange, routing_key, body, properties, mandatory=True)
        self.tracker.sent(key, subject)

    def wait(self, done: Callable[[], bool]) -> bool:
        """Turn the I/O loop until done(); False when the deadline passed first. Raises
        BrokerUnavailable when the connection fails or the channel closes meanwhile."""
        deadline = time.monotonic() + self.timeout
        try:
            while not done():
                if not self._impl.is_open:
                    # A publish to an exchange that no longer exists closes the channel: no
                    # confirm will come, so say why now instead of at the deadline.
                    raise BrokerUnavailable(f"the broker closed the channel: {self.closed_by!r}")
                if time.monotonic() >= deadline:
                    return False
                self._connection.process_data_events(time_limit=POLL_SECONDS)
        except pika.exceptions.AMQPError as exc:
            raise BrokerUnavailable(f"the broker connection failed: {exc!r}") from exc
        return True

    def close(self) -> None:
        if self._impl.is_open:
            self._impl.close()

    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        acked = isinstance(method, pika.spec.Basic.Ack)
        self._on_settled(self.tracker.settle(method.delivery_tag, method.multiple, acked))

    def _on_return(self, _channel: Any, method: Any, properties: Any, _body: bytes) -> None:
        log.error(
            "broker.unroutable message_id=%s reply=%s %s",
            properties.message_id,
            method.reply_code,
            method.reply_text,
        )
        self.tracker.returned(getattr(properties, self._key_property))

    def _on_close(self, _channel: Any, reason: Exception) -> None:
        self.closed_by = reason
        self._on_closed(reason, self.tracker.abandon())

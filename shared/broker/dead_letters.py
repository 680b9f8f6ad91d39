"""Reading and settling the dead-letter queue, for an operator's replay tool.

Messages are taken with basic.get a page at a time and not acknowledged. A page's unsettled
letters are moved to the back of the queue (published again, confirmed, then acknowledged)
before the next page is taken, so the pages reach every letter however many there are,
holding at most a page in memory; the last page is only held, and goes back to the queue
when the channel closes. Closing, not nacking: RabbitMQ 4 counts an explicit requeue against
a quorum queue's delivery limit, and a dead-letter queue has nowhere further to send what
runs out. A crash between a move's publish and its acknowledgement leaves a letter twice,
never none.

A walk reads at most the letters the queue held when it began, and stops early at a letter
it moved itself (marked with the walk's own token): letters dropped or expired meanwhile
never make it go round again.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

from shared.broker.connection import BrokerUnavailable, connect
from shared.broker.topology import dead_letter_arguments, declare_topology
from shared.config import Settings

PAGE_SIZE = 1000  # letters held at once while walking the queue

# Our own headers on a moved letter: the walk that moved it, and why it died. The second
# because RabbitMQ 3.13+ treats x- headers as its own: a republished x-death is not
# guaranteed to come back as it was.
WALK_HEADER = "reportbox-walk"
DEATH_HEADER = "reportbox-death"


@dataclass
class DeadLetter:
    message_id: str | None
    body: bytes
    reason: str  # why RabbitMQ dead-lettered it: rejected, delivery_limit, expired...
    queue: str | None  # where it died
    died_at: datetime | None
    deaths: int
    _tag: int = field(repr=False, default=0)
    _properties: Any = field(repr=False, default=None)
    _settled: bool = field(repr=False, default=False)

    def walked_by(self, token: str) -> bool:
        headers = getattr(self._properties, "headers", None) or {}
        return _text(headers.get(WALK_HEADER, "")) == token


def _dead_letter(method: Any, properties: Any, body: bytes) -> DeadLetter:
    headers = properties.headers or {}
    moved = headers.get(DEATH_HEADER)
    if isinstance(moved, dict):
        return DeadLetter(
            properties.message_id,
            body,
            _text(moved.get("reason", "unknown")),
            _text(moved["queue"]) if moved.get("queue") else None,
            moved.get("time") if isinstance(moved.get("time"), datetime) else None,
            int(moved.get("count", 1)),
            method.delivery_tag,
            properties,
        )
    deaths = headers.get("x-death") or [{}]
    first = deaths[0] if isinstance(deaths, list) and deaths else {}
    reason = headers.get("x-first-death-reason") or first.get("reason") or "unknown"
    queue = headers.get("x-first-death-queue") or first.get("queue")
    died_at = first.get("time")
    count = sum(int(death.get("count", 1)) for death in deaths if isinstance(death, dict))
    return DeadLetter(
        properties.message_id,
        body,
        _text(reason),
        _text(queue) if queue else None,
        died_at if isinstance(died_at, datetime) else None,
        count,
        method.delivery_tag,
        properties,
    )


def remaining_life_ms(died_at: datetime | None, max_age_ms: int, now: datetime) -> int | None:
    """How long a moved letter may still live: its age in the queue began when it died, and
    moving it must not start it again (a daily `list` would otherwise keep letters forever).
    None when the death time is unknown (the queue's own TTL then counts from the move)."""
    if died_at is None:
        return None
    if died_at.tzinfo is None:
        died_at = died_at.replace(tzinfo=UTC)  # AMQP timestamps are UTC
    age_ms = int((now - died_at).total_seconds() * 1000)
    return max(1, max_age_ms - age_ms)


def _moved_properties(letter: DeadLetter, token: str, life_ms: int | None) -> Any:
    """The letter's properties as published again: its death written down in our header."""
    original = letter._properties
    death: dict[str, Any] = {"reason": letter.reason, "count": letter.deaths}
    if letter.queue:
        death["queue"] = letter.queue
    if letter.died_at:
        death["time"] = letter.died_at
    headers = {**(original.headers or {}), WALK_HEADER: token, DEATH_HEADER: death}
    return pika.BasicProperties(
        content_type=original.content_type,
        content_encoding=original.content_encoding,
        headers=headers,
        delivery_mode=pika.DeliveryMode.Persistent,
        message_id=original.message_id,
        timestamp=original.timestamp,
        type=original.type,
        expiration=None if life_ms is None else str(life_ms),
    )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class DeadLetterQueue:
    """`with DeadLetterQueue(settings) as queue:` every message, then ack what was handled."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._connection = connect(settings)
        try:
            self._channel: BlockingChannel = declare_topology(self._connection.channel(), settings)
            self._channel.confirm_delivery()  # a letter is moved only once it is stored again
        except pika.exceptions.AMQPError as exc:
            self.close()
            raise BrokerUnavailable(f"cannot open the dead-letter queue: {exc!r}") from exc

    def __enter__(self) -> DeadLetterQueue:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def pages(self, page_size: int = PAGE_SIZE) -> Iterator[list[DeadLetter]]:
        """Every letter in the queue once, page_size at a time, each held until ack() or
        close(); what a page leaves unsettled moves to the back before the next one."""
        token = uuid.uuid4().hex
        try:
            remaining = self._channel.queue_declare(
                self._settings.dead_letter_queue, passive=True
            ).method.message_count
            while remaining > 0:
                page, went_round = self._take(min(page_size, remaining), token)
                remaining = 0 if went_round else remaining - len(page)
                if page:
                    yield page
                if remaining > 0:
                    self._move_back(page, token)
        except pika.exceptions.AMQPError as exc:
            raise BrokerUnavailable(f"reading dead letters failed: {exc!r}") from exc

    def _take(self, count: int, token: str) -> tuple[list[DeadLetter], bool]:
        """Up to count letters; True once a letter this walk moved came round again (or the
        queue ran dry), when there is nothing further to read."""
        page: list[DeadLetter] = []
        while len(page) < count:
            method, properties, body = self._channel.basic_get(
                self._settings.dead_letter_queue, auto_ack=False
            )
            if method is None:
                return page, True
            letter = _dead_letter(method, properties, body)
            if letter.walked_by(token):
                return page, True  # held, not read: close() puts it back
            page.append(letter)
        return page, False

    def _move_back(self, page: list[DeadLetter], token: str) -> None:
        max_age_ms = dead_letter_arguments(self._settings)["x-message-ttl"]
        now = datetime.now(UTC)
        for letter in page:
            if letter._settled:
                continue
            life_ms = remaining_life_ms(letter.died_at, max_age_ms, now)
            self._channel.basic_publish(
                "",
                self._settings.dead_letter_queue,
                letter.body,
                _moved_properties(letter, token, life_ms),
                mandatory=True,
            )
            self._channel.basic_ack(letter._tag)  # after the confirm: never lost, at worst twice

    def ack(self, letter: DeadLetter) -> None:
        """Remove it from the queue for good; only once its replay is durable."""
        try:
            self._channel.basic_ack(letter._tag)
            letter._settled = True
        except pika.exceptions.AMQPError as exc:
            raise BrokerUnavailable(f"acknowledging a dead letter failed: {exc!r}") from exc

    def close(self) -> None:
        with contextlib.suppress(pika.exceptions.AMQPError):
            if self._connection.is_open:
                self._connection.close()  # unacknowledged messages go back to the queue

"""Reading and settling the dead-letter queue, for an operator's replay tool.

Messages are taken with basic.get and not acknowledged; what is not settled goes back to the
queue when the channel closes, in order. Closing, not nacking: RabbitMQ 4 counts an explicit
requeue against a quorum queue's delivery limit, and a dead-letter queue has nowhere further
to send what runs out.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

from shared.broker.connection import BrokerUnavailable, connect
from shared.broker.topology import declare_topology
from shared.config import Settings


@dataclass
class DeadLetter:
    message_id: str | None
    body: bytes
    reason: str  # why RabbitMQ dead-lettered it: rejected, delivery_limit, expired...
    queue: str | None  # where it died
    died_at: datetime | None
    deaths: int
    _tag: int = field(repr=False, default=0)


def _dead_letter(method: Any, properties: Any, body: bytes) -> DeadLetter:
    headers = properties.headers or {}
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
        except pika.exceptions.AMQPError as exc:
            self.close()
            raise BrokerUnavailable(f"cannot open the dead-letter queue: {exc!r}") from exc

    def __enter__(self) -> DeadLetterQueue:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def messages(self, limit: int = 10_000) -> Iterator[DeadLetter]:
        """Each message in the queue once, held (unacknowledged) until ack() or close()."""
        try:
            for _ in range(limit):
                method, properties, body = self._channel.basic_get(
                    self._settings.dead_letter_queue, auto_ack=False
                )
                if method is None:
                    return
                yield _dead_letter(method, properties, body)
        except pika.exceptions.AMQPError as exc:
            raise BrokerUnavailable(f"reading dead letters failed: {exc!r}") from exc

    def ack(self, letter: DeadLetter) -> None:
        """Remove it from the queue for good; only once its replay is durable."""
        try:
            self._channel.basic_ack(letter._tag)
        except pika.exceptions.AMQPError as exc:
            raise BrokerUnavailable(f"acknowledging a dead letter failed: {exc!r}") from exc

    def close(self) -> None:
        with contextlib.suppress(pika.exceptions.AMQPError):
            if self._connection.is_open:
                self._connection.close()  # unacknowledged messages go back to the queue

"""Opening a connection to RabbitMQ; every pika error leaves as BrokerUnavailable."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingConnection

from shared.config import Settings

CONFIRM_TIMEOUT = 30.0  # seconds to wait for the broker to confirm one batch
HEARTBEAT = 30  # seconds; the I/O thread keeps answering while exports run elsewhere


class BrokerUnavailable(RuntimeError):
    """RabbitMQ could not be reached, or it dropped the connection or channel."""


def connect(settings: Settings) -> BlockingConnection:
    parameters = pika.URLParameters(settings.rabbitmq_url)
    parameters.heartbeat = HEARTBEAT
    parameters.blocked_connection_timeout = 60
    parameters.connection_attempts = 1
    parameters.socket_timeout = 5
    try:
        return pika.BlockingConnection(parameters)
    except pika.exceptions.AMQPError as exc:
        raise BrokerUnavailable(f"cannot connect to RabbitMQ: {exc!r}") from exc


def settled_tags(outstanding: Iterable[int], delivery_tag: int, multiple: bool) -> list[int]:
    """The publish tags a basic.ack or basic.nack settles: one, or all up to it (multiple).

    `outstanding` is in ascending tag order (a dict filled as messages are published), so
    a multiple ack stops at the first later tag instead of scanning every one in flight.
    """
    if not multiple:
        return [delivery_tag]
    return list(itertools.takewhile(lambda tag: tag <= delivery_tag, outstanding))

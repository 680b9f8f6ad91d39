"""Opening a connection to RabbitMQ; every pika error leaves as BrokerUnavailable."""

from __future__ import annotations

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingConnection

from shared.config import Settings

# seconds to wait for the broker to enter confirm mode, and to confirm one batch
CONFIRM_TIMEOUT = 30.0
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

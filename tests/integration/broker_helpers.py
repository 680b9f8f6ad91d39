"""Reading what reached a queue, for assertions."""

from __future__ import annotations

import pika

from shared.broker import declare_topology
from shared.config import Settings


def declare(settings: Settings) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(settings.rabbitmq_url))
    declare_topology(connection.channel(), settings)
    connection.close()


def drain_queue(settings: Settings, queue: str | None = None) -> list[tuple[object, bytes]]:
    """Every message now in the queue as (properties, body); acknowledges them."""
    connection = pika.BlockingConnection(pika.URLParameters(settings.rabbitmq_url))
    channel = connection.channel()
    messages = []
    while True:
        method, properties, body = channel.basic_get(queue or settings.work_queue)
        if method is None:
            break
        messages.append((properties, body))
        channel.basic_ack(method.delivery_tag)
    connection.close()
    return messages


def queue_depth(settings: Settings, queue: str) -> int:
    """How many messages are ready in the queue now, without taking any."""
    connection = pika.BlockingConnection(pika.URLParameters(settings.rabbitmq_url))
    try:
        return connection.channel().queue_declare(queue, passive=True).method.message_count
    finally:
        connection.close()

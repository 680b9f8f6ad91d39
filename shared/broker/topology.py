"""Exchanges and queues: declared by relay and worker at start, idempotently."""

from __future__ import annotations

import logging
from typing import Any

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

from shared.broker.connection import BrokerUnavailable, connect
from shared.config import Settings

log = logging.getLogger(__name__)

ROUTING_KEY = "report.requested"
DELIVERY_LIMIT = 10  # redeliveries before a message is dead-lettered; 4.0 defaults to 20
PRECONDITION_FAILED = 406
NOT_FOUND = 404
# The broker closes the channel of a consumer that holds a delivery unacknowledged longer
# than x-consumer-timeout (honoured by RabbitMQ 3.12+; older brokers ignore the argument and
# apply their global consumer_timeout). An export may run WORKER_MAX_EXPORT_SECONDS (a
# delivery whose report another worker holds is parked, never held): this margin covers the
# claim, the upload's completion and the rest.
CONSUMER_TIMEOUT_MARGIN = 300  # seconds


def consumer_timeout_ms(settings: Settings) -> int:
    return (settings.max_export_seconds + CONSUMER_TIMEOUT_MARGIN) * 1000


def dead_letter_arguments(settings: Settings) -> dict[str, Any]:
    """The dead-letter queue's bounds (quorum queues honour all three from RabbitMQ 3.10).

    drop-head: past the length the oldest letter goes, so the newest failures (the ones an
    operator is about to look at) are kept and dead-lettering never blocks the work queue.
    An existing queue keeps the arguments it was declared with: declare_queue() then logs
    broker.queue_arguments_differ and uses it as it is, until an operator re-creates it or
    sets the equivalent policy (max-length, overflow, message-ttl) on it.
    """
    return {
        "x-queue-type": "quorum",
        "x-max-length": settings.dead_letter_max_letters,
        "x-overflow": "drop-head",
        "x-message-ttl": round(settings.dead_letter_max_age_hours * 3600 * 1000),
    }


def queue_arguments(settings: Settings) -> dict[str, dict[str, Any]]:
    """Every queue of the topology and its arguments (infra/rabbitmq/definitions.json too).

    Quorum queues exist on 3.8+; delivery-limit is set explicitly because its default
    changed in 4.0 (unlimited before, 20 after). The retry queue holds each message for its
    own `expiration`, then dead-letters it back to the work exchange: a delay that holds no
    consumer's prefetch slot. It is classic because per-message TTL is its whole job.
    """
    return {
        settings.dead_letter_queue: dead_letter_arguments(settings),
        settings.work_queue: {
            "x-queue-type": "quorum",
            "x-delivery-limit": DELIVERY_LIMIT,
            "x-dead-letter-exchange": settings.dead_letter_exchange,
            "x-consumer-timeout": consumer_timeout_ms(settings),
        },
        settings.retry_queue: {
            "x-queue-type": "classic",
            "x-dead-letter-exchange": settings.exchange,
            "x-dead-letter-routing-key": ROUTING_KEY,
        },
    }


def declare_topology(channel: BlockingChannel, settings: Settings) -> BlockingChannel:
    """Declare exchanges, the work queue and the dead-letter queue; safe to repeat.

    The retry queue is declared by the first retry that needs it (see _RetrySender). Returns
    the channel to go on with: a queue that exists with other arguments closes the channel
    it was declared on, and is then used as it is, on a new channel.
    """
    channel.exchange_declare(settings.exchange, exchange_type="direct", durable=True)
    channel.exchange_declare(settings.dead_letter_exchange, exchange_type="fanout", durable=True)
    arguments = queue_arguments(settings)
    for queue in (settings.dead_letter_queue, settings.work_queue):
        channel = declare_queue(channel, queue, arguments[queue])
    channel.queue_bind(settings.dead_letter_queue, settings.dead_letter_exchange)
    channel.queue_bind(settings.work_queue, settings.exchange, routing_key=ROUTING_KEY)
    return channel


def declare_queue(
    channel: BlockingChannel, queue: str, arguments: dict[str, Any]
) -> BlockingChannel:
    try:
        channel.queue_declare(queue, durable=True, arguments=arguments)
        return channel
    except pika.exceptions.ChannelClosedByBroker as exc:
        if exc.reply_code != PRECONDITION_FAILED:
            raise
        # Arguments of an existing queue never change by redeclaring it (an older release
        # declared it, say, before x-consumer-timeout existed). It still works as it is;
        # a policy or a re-creation brings the new arguments.
        log.warning(
            "broker.queue_arguments_differ queue=%s wanted=%s reply=%s",
            queue,
            arguments,
            exc.reply_text,
        )
    channel = channel.connection.channel()
    channel.queue_declare(queue, passive=True)
    return channel


def messages_waiting(settings: Settings) -> int:
    """Messages ready in the work queue now (none while it does not exist)."""
    connection = connect(settings)
    try:
        declared = connection.channel().queue_declare(settings.work_queue, passive=True)
        waiting: int = declared.method.message_count
        return waiting
    except pika.exceptions.ChannelClosedByBroker as exc:
        if exc.reply_code == NOT_FOUND:
            return 0
        raise BrokerUnavailable(f"cannot count the waiting messages: {exc!r}") from exc
    except pika.exceptions.AMQPError as exc:
        raise BrokerUnavailable(f"cannot count the waiting messages: {exc!r}") from exc
    finally:
        try:
            if connection.is_open:
                connection.close()
        except pika.exceptions.AMQPError:
            pass

"""The one package that talks to RabbitMQ; only its modules import pika.

Every pika error leaves it as BrokerUnavailable.
"""

from shared.broker.connection import BrokerUnavailable
from shared.broker.consumer import RETRIES_HEADER, Consumer, Delivery
from shared.broker.dead_letters import DeadLetter, DeadLetterQueue
from shared.broker.publisher import OutgoingMessage, Publisher
from shared.broker.topology import (
    ROUTING_KEY,
    consumer_timeout_ms,
    declare_topology,
    messages_waiting,
    queue_arguments,
)

__all__ = [
    "RETRIES_HEADER",
    "ROUTING_KEY",
    "BrokerUnavailable",
    "Consumer",
    "DeadLetter",
    "DeadLetterQueue",
    "Delivery",
    "OutgoingMessage",
    "Publisher",
    "consumer_timeout_ms",
    "declare_topology",
    "messages_waiting",
    "queue_arguments",
]

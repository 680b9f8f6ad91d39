"""The relay draining 20,000 outbox rows, against publishing the same messages without the database.

Both go through shared.broker.Publisher in batches of 500 with publisher confirms, so the
ratio shows what claiming and marking rows in PostgreSQL costs on top of RabbitMQ's own
confirmed-publish rate through the same client.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import text

from relay.relay import Relay
from shared.broker import OutgoingMessage, Publisher
from shared.config import Settings
from shared.db import make_engine, make_session_factory
from shared.messages import ReportRequested
from tests.perf.stack import execute, purge_work_queue, queue_depth
from tests.perf.table import Line, ratio

MESSAGES = 20_000
BATCH = 500

# Valid ReportRequested bodies built in the database, so 20,000 rows take a moment, not a loop.
# UTC makes occurredAt end in +00:00, as ReportRequested.encode() writes it.
FILL_OUTBOX = f"""
    SET TIME ZONE 'UTC';
    INSERT INTO outbox (message_id, message_type, report_id, body)
    SELECT id, 'report.requested', report_id, convert_to(json_build_object(
               'messageId', id, 'type', 'report.requested', 'reportId', report_id,
               'occurredAt', to_json(now()) #>> '{{}}')::text, 'UTF8')
    FROM (SELECT gen_random_uuid() AS id, gen_random_uuid() AS report_id
          FROM generate_series(1, {MESSAGES})) AS fresh;
"""


def measure(settings: Settings) -> dict[str, Any]:
    settings = settings.with_overrides(relay_batch_size=BATCH)
    execute(settings, FILL_OUTBOX)
    engine = make_engine(settings, pool_size=2)
    try:
        sessions = make_session_factory(engine)
        messages = read_outbox(sessions)
        ReportRequested.decode(messages[0].body)  # the relay must carry real messages
        raw_seconds = publish_directly(settings, messages)
        relay_seconds = drain_with_relay(settings, sessions)
    finally:
        engine.dispose()
        execute(settings, "TRUNCATE outbox")
    raw_rate, relay_rate = MESSAGES / raw_seconds, MESSAGES / relay_seconds
    return {
        "messages": MESSAGES,
        "batch": BATCH,
        "relay_seconds": round(relay_seconds, 3),
        "relay_per_second": round(relay_rate, 1),
        "raw_seconds": round(raw_seconds, 3),
        "raw_per_second": round(raw_rate, 1),
        "ratio": round(relay_rate / raw_rate, 3),
    }


def read_outbox(sessions: Any) -> list[OutgoingMessage]:
    query = text("SELECT message_id, message_type, body FROM outbox ORDER BY id")
    with sessions() as session:
        rows = session.execute(query).all()
    return [OutgoingMessage(str(row.message_id), row.message_type, bytes(row.body)) for row in rows]


def publish_directly(settings: Settings, messages: list[OutgoingMessage]) -> float:
    publisher = Publisher(settings)  # connecting is not part of the rate
    try:
        started = time.perf_counter()
        confirmed = 0
        for first in range(0, len(messages), BATCH):
            confirmed += len(publisher.publish(messages[first : first + BATCH]))
        seconds = time.perf_counter() - started
    finally:
        publisher.close()
    check_all_arrived(settings, confirmed)
    return seconds


def drain_with_relay(settings: Settings, sessions: Any) -> float:
    publisher = Publisher(settings)  # as above: the relay would open it on its first pass
    relay = Relay(settings, sessions, publisher_factory=lambda _settings: publisher)
    with sessions() as session:
        session.execute(text("SELECT 1"))  # a pooled connection, also kept out of the rate
    try:
        started = time.perf_counter()
        published = 0
        while batch := relay.run_once():
            published += batch
        seconds = time.perf_counter() - started
    finally:
        relay.close()
    check_all_arrived(settings, published)
    return seconds


def check_all_arrived(settings: Settings, confirmed: int) -> None:
    depth = queue_depth(settings)
    purge_work_queue(settings)
    if confirmed != MESSAGES or depth != MESSAGES:
        raise RuntimeError(f"{MESSAGES} sent, {confirmed} confirmed, {depth} in the queue")


def lines(data: dict[str, Any]) -> list[Line]:
    return [
        Line(
            f"relay, {data['messages']:,} msgs, batch {data['batch']}",
            f"{data['relay_per_second']:,.0f} msg/s",
            f"Publisher alone {data['raw_per_second']:,.0f} msg/s",
            ratio(data["relay_per_second"], data["raw_per_second"], "higher"),
        )
    ]

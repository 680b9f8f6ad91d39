"""Webhook endpoints and messages for tests, written and read through the real tables."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from shared.webhooks import endpoints
from shared.webhooks.payload import EVENT_TYPES
from tests.conftest import SECRETS_KEY


def make_endpoint(engine, org, url="https://hooks.example.com/in", **options):
    """An endpoint of `org` (every event by default); returns (endpoint id, secret)."""
    options.setdefault("event_types", EVENT_TYPES)
    with engine.begin() as connection:
        row, secret = endpoints.create(connection, org, url, secrets_key=SECRETS_KEY, **options)
    return row.id, secret


def messages_of(engine, endpoint_id: uuid.UUID) -> list:
    with engine.connect() as connection:
        return connection.execute(
            text(
                """
                SELECT * FROM webhook_messages WHERE endpoint_id = :id
                ORDER BY occurred_at, id
                """
            ),
            {"id": endpoint_id},
        ).all()

"""The webhook_endpoints table's statements: what the API and the dispatcher do to endpoints."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, text

from shared.webhooks.signing import new_secret, seal_secret

# What the API shows of an endpoint: everything but its secrets, which are stored sealed
# (shared/webhooks/signing.py) and opened by the dispatcher alone.
_PUBLIC = """id, org, url, description, event_types, report_types, include_download_url,
             disabled, disabled_reason, failing_since, created_at, updated_at,
             previous_secret_expires_at"""

INSERT = text(
    f"""
    INSERT INTO webhook_endpoints (id, org, url, description, event_types, report_types,
                                   include_download_url, secret)
    VALUES (:id, :org, :url, :description, :event_types, :report_types,
            :include_download_url, :secret)
    RETURNING {_PUBLIC}
    """
)

GET = text(f"SELECT {_PUBLIC} FROM webhook_endpoints WHERE id = :id AND org = :org")

LIST = text(
    f"""
    SELECT {_PUBLIC}, count(*) OVER () AS total FROM webhook_endpoints WHERE org = :org
    ORDER BY created_at DESC, id DESC LIMIT :limit OFFSET :offset
    """
)

DELETE = text("DELETE FROM webhook_endpoints WHERE id = :id AND org = :org RETURNING id")

# The old secret keeps signing beside the new one until it expires (the dispatcher reads
# both; the API never returns either after this answer).
ROTATE = text(
    """
    UPDATE webhook_endpoints
    SET previous_secret = secret, secret = :secret,
        previous_secret_expires_at = now() + make_interval(secs => :overlap_seconds),
        updated_at = now()
    WHERE id = :id AND org = :org
    RETURNING id
    """
)

# Disabling ends the endpoint's pending messages: it gets nothing more (a retry of one
# message, after re-enabling, sends it again).
DISABLE = text(
    """
    WITH endpoint AS (
        UPDATE webhook_endpoints
        SET disabled = true, disabled_reason = :reason, updated_at = now()
        WHERE id = :id AND NOT disabled
        RETURNING id
    )
    UPDATE webhook_messages
    SET state = 'failed', lease_until = NULL,
        last_error = coalesce(last_error || '; ', '') || 'the endpoint was disabled'
    WHERE endpoint_id IN (SELECT id FROM endpoint) AND state = 'pending'
    """
)

ENABLE = text(
    """
    UPDATE webhook_endpoints
    SET disabled = false, disabled_reason = NULL, failing_since = NULL, updated_at = now()
    WHERE id = :id AND org = :org
    """
)


def create(
    connection: Connection,
    org: str,
    url: str,
    event_types: Sequence[str],
    report_types: Sequence[str] = (),
    description: str | None = None,
    include_download_url: bool = False,
    *,
    secrets_key: str | None,
) -> tuple[Row[Any], str]:
    """A new endpoint and its secret in the clear (the only time it is ever shown); the table
    keeps it sealed with `secrets_key` (SecretsUnavailable without a usable key)."""
    secret = new_secret()
    row = connection.execute(
        INSERT,
        {
            "id": uuid.uuid4(),
            "org": org,
            "url": url,
            "description": description,
            "event_types": list(event_types),
            "report_types": list(report_types),
            "include_download_url": include_download_url,
            "secret": seal_secret(secret, secrets_key),
        },
    ).one()
    return row, secret


def rotate(
    connection: Connection,
    endpoint_id: uuid.UUID,
    org: str,
    overlap_seconds: float,
    *,
    secrets_key: str | None,
) -> str | None:
    """A new secret for the endpoint, in the clear (None: no such endpoint in the org)."""
    secret = new_secret()
    sealed = seal_secret(secret, secrets_key)
    row = connection.execute(
        ROTATE,
        {"id": endpoint_id, "org": org, "secret": sealed, "overlap_seconds": overlap_seconds},
    ).first()
    return None if row is None else secret

"""The transactional outbox: rows written with a report, published later by the relay."""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy import text
from sqlalchemy.orm import Session

from shared.broker import OutgoingMessage

# claim_batch: the oldest unpublished rows after :after, locked FOR UPDATE until the caller's
# transaction commits. A concurrent relay SKIPs LOCKED rows and takes the next ones, so two
# relays never publish the same row in one pass. Served by the partial index
# outbox_unpublished. :after lets a drain start each claim where the last one ended: the
# index keeps entries of rows published since the last vacuum, and a claim from the start
# would step over all of them every time.
CLAIM_BATCH = text(
    """
    SELECT id, message_id, message_type, body, report_id
    FROM outbox
    WHERE published_at IS NULL AND id > :after
    ORDER BY id
    LIMIT :limit
    FOR UPDATE SKIP LOCKED
    """
)

# Returns how long each row waited from its commit (created_at, the API's transaction) to now.
MARK_PUBLISHED = text(
    """
    UPDATE outbox SET published_at = now() WHERE message_id = ANY(:ids)
    RETURNING extract(epoch FROM clock_timestamp() - created_at) AS waited_seconds
    """
)


def claim_batch(session: Session, limit: int, after: int = 0) -> list[OutgoingMessage]:
    """Lock up to `limit` unpublished rows with ids above `after`, oldest first."""
    rows = session.execute(CLAIM_BATCH, {"limit": limit, "after": after}).all()
    return [
        OutgoingMessage(
            str(row.message_id),
            row.message_type,
            bytes(row.body),
            None if row.report_id is None else str(row.report_id),
            row.id,
        )
        for row in rows
    ]


def mark_published(session: Session, message_ids: Collection[str]) -> list[float]:
    """Mark the rows published; how many seconds each waited since its commit."""
    if not message_ids:
        return []
    ids = [uuid.UUID(message_id) for message_id in message_ids]
    return [float(row.waited_seconds) for row in session.execute(MARK_PUBLISHED, {"ids": ids})]

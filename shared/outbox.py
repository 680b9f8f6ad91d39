"""The transactional outbox: rows written with a report, published later by the relay."""

from __future__ import annotations

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
    SELECT id, message_id::text AS message_id, message_type, body, report_id::text AS report_id
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
    UPDATE outbox SET published_at = now() WHERE id = ANY(:ids)
    RETURNING extract(epoch FROM clock_timestamp() - created_at) AS waited_seconds
    """
)


def claim_batch(session: Session, limit: int, after: int = 0) -> list[OutgoingMessage]:
    """Lock up to `limit` unpublished rows with ids above `after`, oldest first."""
    # The ids come as text: the messages carry them as strings, and thousands of UUID
    # objects made only to be turned back into strings cost the relay CPU on every batch.
    rows = session.execute(CLAIM_BATCH, {"limit": limit, "after": after}).all()
    return [
        OutgoingMessage(row.message_id, row.message_type, bytes(row.body), row.report_id, row.id)
        for row in rows
    ]


def mark_published(session: Session, outbox_ids: Collection[int]) -> list[float]:
    """Mark the rows published; how many seconds each waited since its commit."""
    if not outbox_ids:
        return []
    rows = session.execute(MARK_PUBLISHED, {"ids": list(outbox_ids)})
    return [float(row.waited_seconds) for row in rows]

"""Webhook events, written in the transaction of the status change that causes them.

Call record_report_events (or record_definition_event) right after the transition, on the
same connection, before the commit: the messages exist exactly when the change does, so a
crash can lose neither and a rolled-back change sends nothing. One message per (event,
endpoint) that subscribed; an org without endpoints costs one indexed, empty read.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Any

from sqlalchemy import Connection, text

from shared.webhooks.payload import DEFINITION_EVENTS, REPORT_EVENTS, matches

# The reports and the enabled endpoints of their orgs, one row per pair.
_REPORT_SUBSCRIBERS = text(
    """
    SELECT r.id AS subject_id, r.report_type, e.id AS endpoint_id, e.event_types, e.report_types
    FROM reports r JOIN webhook_endpoints e ON e.org = r.org AND NOT e.disabled
    WHERE r.id = ANY(:ids)
    """
)

_DEFINITION_SUBSCRIBERS = text(
    """
    SELECT d.id AS subject_id, d.report_type, e.id AS endpoint_id, e.event_types, e.report_types
    FROM report_definitions d JOIN webhook_endpoints e ON e.org = d.org AND NOT e.disabled
    WHERE d.id = ANY(:ids)
    """
)

# The snapshot is read in the same statement, so it is the row as this transaction left it.
_INSERT_REPORT_MESSAGES = text(
    """
    INSERT INTO webhook_messages (id, endpoint_id, org, event_type, report_id, definition_id,
                                  snapshot)
    SELECT m.id, m.endpoint_id, r.org, :event_type, r.id, r.definition_id,
           jsonb_build_object(
               'id', r.id, 'report_type', r.report_type, 'format', r.format,
               'status', r.status, 'definition_id', r.definition_id, 'trigger', r.trigger,
               'scheduled_for', r.scheduled_for, 'created_at', r.created_at,
               'completed_at', r.completed_at, 'file_name', r.file_name,
               'content_type', r.content_type, 'size_bytes', r.size_bytes,
               'row_count', r.row_count, 'sha256', r.sha256, 'error_code', r.error_code,
               'error_message', left(r.error_message, 1000), 'object_key', r.object_key)
    FROM unnest(CAST(:message_ids AS uuid[]), CAST(:endpoint_ids AS uuid[]),
                CAST(:subject_ids AS uuid[])) AS m(id, endpoint_id, subject_id)
    JOIN reports r ON r.id = m.subject_id
    """
)

_INSERT_DEFINITION_MESSAGES = text(
    """
    INSERT INTO webhook_messages (id, endpoint_id, org, event_type, definition_id, snapshot)
    SELECT m.id, m.endpoint_id, d.org, :event_type, d.id,
           jsonb_build_object(
               'id', d.id, 'name', d.name, 'report_type', d.report_type, 'format', d.format,
               'active', d.active, 'consecutive_failures', d.consecutive_failures,
               'paused_reason', left(d.paused_reason, 1000))
    FROM unnest(CAST(:message_ids AS uuid[]), CAST(:endpoint_ids AS uuid[]),
                CAST(:subject_ids AS uuid[])) AS m(id, endpoint_id, subject_id)
    JOIN report_definitions d ON d.id = m.subject_id
    """
)


def record_report_events(
    connection: Connection, event_type: str, report_ids: Collection[uuid.UUID]
) -> int:
    """Write `event_type` for each report to every endpoint that takes it; how many messages."""
    if event_type not in REPORT_EVENTS:
        raise ValueError(f"{event_type!r} is not a report event")
    return _record(connection, event_type, report_ids, _REPORT_SUBSCRIBERS, _INSERT_REPORT_MESSAGES)


def record_definition_event(
    connection: Connection, event_type: str, definition_id: uuid.UUID
) -> int:
    if event_type not in DEFINITION_EVENTS:
        raise ValueError(f"{event_type!r} is not a definition event")
    return _record(
        connection,
        event_type,
        [definition_id],
        _DEFINITION_SUBSCRIBERS,
        _INSERT_DEFINITION_MESSAGES,
    )


def _record(
    connection: Connection,
    event_type: str,
    subject_ids: Collection[uuid.UUID],
    subscribers: Any,
    insert: Any,
) -> int:
    if not subject_ids:
        return 0
    rows = connection.execute(subscribers, {"ids": list(subject_ids)}).all()
    pairs = [
        (row.endpoint_id, row.subject_id)
        for row in rows
        if matches(event_type, row.report_type, row.event_types, row.report_types)
    ]
    if not pairs:
        return 0
    connection.execute(
        insert,
        {
            "event_type": event_type,
            "message_ids": [uuid.uuid4() for _ in pairs],
            "endpoint_ids": [endpoint_id for endpoint_id, _ in pairs],
            "subject_ids": [subject_id for _, subject_id in pairs],
        },
    )
    return len(pairs)

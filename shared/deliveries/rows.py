"""The deliveries table's statements: written when a run completes, claimed and recorded by
the dispatcher, read and retried by the API.

The table is the queue, as webhook_messages is: a delivery is due when Pending, its
next_attempt_at has come and no dispatcher holds its lease. A dispatcher that dies
mid-attempt lets the lease run out and another sends it again (at least once).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import Connection, text

from shared.deliveries.decisions import initial_status

CHANNEL = "reportbox_deliveries"  # NOTIFY channel of the deliveries' trigger (migration 0010)

# The completed run, its definition's targets and sendWhen, and the sha256 of the last run
# of the same definition that was Delivered (for sendWhen changed).
_RUN = text(
    """
    SELECT r.id, r.definition_id, r.row_count, r.sha256, d.deliveries, d.send_when,
           (SELECT pr.sha256 FROM deliveries pd JOIN reports pr ON pr.id = pd.report_id
            WHERE pd.definition_id = d.id AND pd.state = 'Delivered' AND pd.report_id <> r.id
            ORDER BY pd.delivered_at DESC LIMIT 1) AS last_delivered_sha256
    FROM reports r JOIN report_definitions d ON d.id = r.definition_id
    WHERE r.id = :report_id AND r.status = 'Completed'
    """
)

_INSERT = text(
    """
    INSERT INTO deliveries (id, report_id, definition_id, position, kind, target, state,
                            last_error)
    VALUES (:id, :report_id, :definition_id, :position, :kind, CAST(:target AS jsonb),
            :status, :last_error)
    ON CONFLICT ON CONSTRAINT deliveries_report_position DO NOTHING
    """
)


def record_run_deliveries(connection: Connection, report_id: uuid.UUID) -> int:
    """Write the run's deliveries, on the connection that completes it, before the commit;
    how many. A run of no definition, or of one with only `api` deliveries, writes none."""
    run = connection.execute(_RUN, {"report_id": report_id}).first()
    if run is None:
        return 0
    start = initial_status(run.send_when, run.row_count, run.sha256, run.last_delivered_sha256)
    rows = [
        {
            "id": uuid.uuid4(),
            "report_id": run.id,
            "definition_id": run.definition_id,
            "position": position,
            "kind": target["kind"],
            "target": json.dumps(target),
            "status": start.status.value,
            "last_error": start.reason,
        }
        for position, target in enumerate(run.deliveries or [])
        if target.get("kind") != "api"
    ]
    if rows:
        connection.execute(_INSERT, rows)
    return len(rows)


# claim_due: the oldest due deliveries, locked until the caller's transaction commits; a
# concurrent dispatcher SKIPs LOCKED rows and takes the next ones. Served by deliveries_due.
CLAIM_DUE = text(
    """
    SELECT id FROM deliveries
    WHERE state = 'Pending' AND next_attempt_at <= now()
      AND (lease_until IS NULL OR lease_until < now())
    ORDER BY next_attempt_at
    LIMIT :limit
    FOR UPDATE SKIP LOCKED
    """
)

# Counts the attempt when it starts, so one that never reports back (a crash) still counts.
# What the kind needs of the run comes with it.
LEASE = text(
    """
    UPDATE deliveries dl
    SET lease_until = now() + make_interval(secs => :lease_seconds), attempts = dl.attempts + 1
    FROM reports r LEFT JOIN report_definitions d ON d.id = r.definition_id
    WHERE dl.id = ANY(:ids) AND r.id = dl.report_id
    RETURNING dl.id, dl.report_id, dl.definition_id, dl.kind, dl.target, dl.attempts,
              dl.attempts_before_retry, r.status AS report_status, r.object_key, r.file_name,
              r.content_type, r.size_bytes, r.row_count, r.sha256, r.completed_at,
              r.scheduled_for, r.created_at, r.parameters, r.report_type,
              coalesce(d.name, r.report_type) AS definition_name, d.period,
              d.schedule_timezone
    """
)

# Fenced by attempts, like the webhooks' record: an attempt whose lease ran out and was
# taken over cannot overwrite the newer attempt's record.
# A retry asked while this attempt was in flight (RETRY_NOW set attempts_before_retry to the
# attempts this one counted, which no earlier retry can have done) is kept: the row stays
# Pending, due when the retry said, rather than taking this attempt's outcome and dropping
# the retry. Returns the state written.
RECORD = text(
    """
    UPDATE deliveries
    SET state = CASE WHEN attempts_before_retry = attempts THEN 'Pending'
                     ELSE CAST(:status AS text) END,
        lease_until = NULL,
        next_attempt_at = CASE WHEN attempts_before_retry = attempts THEN next_attempt_at
                               ELSE coalesce(:next_attempt_at, next_attempt_at) END,
        last_error = :error,
        delivered_at = CASE WHEN attempts_before_retry <> attempts
                             AND CAST(:status AS text) = 'Delivered' THEN now() END
    WHERE id = :id AND attempts = :attempts AND state = 'Pending'
    RETURNING state
    """
)

NEXT_DUE_IN = text(
    """
    SELECT extract(epoch FROM min(next_attempt_at) - now()) AS seconds
    FROM deliveries WHERE state = 'Pending'
    """
)

# The API's retry of one target: due now, its schedule counted afresh. One in flight keeps its
# lease, so it is never sent twice at once.
RETRY_NOW = text(
    """
    UPDATE deliveries
    SET state = 'Pending', next_attempt_at = now(), attempts_before_retry = attempts,
        delivered_at = NULL,
        lease_until = CASE WHEN lease_until > now() THEN lease_until END
    WHERE id = :id AND report_id = :report_id
    RETURNING id
    """
)

LIST_FOR_REPORTS = text(
    """
    SELECT id, report_id, kind, state, attempts, last_error, delivered_at
    FROM deliveries WHERE report_id = ANY(:report_ids)
    ORDER BY report_id, position
    """
)


def list_for_reports(
    connection: Connection, report_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[dict[str, Any]]]:
    """Each report's deliveries as its resource shows them (no target: no secrets)."""
    found: dict[uuid.UUID, list[dict[str, Any]]] = {report_id: [] for report_id in report_ids}
    if not report_ids:
        return found
    for row in connection.execute(LIST_FOR_REPORTS, {"report_ids": report_ids}):
        found[row.report_id].append(
            {
                "delivery_id": row.id,
                "kind": row.kind,
                "status": row.state,
                "attempts": row.attempts,
                "last_error": row.last_error,
                "delivered_at": row.delivered_at,
            }
        )
    return found

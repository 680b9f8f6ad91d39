"""The webhook_messages table's statements: the dispatcher's claim and its record of attempts,
and what the API reads and retries.

The table is the queue: a message is due when it is pending, its next_attempt_at has come,
and no dispatcher holds it (lease_until unset or past). A dispatcher that dies mid-attempt
lets its lease run out and another sends the message again (at least once).
"""

from __future__ import annotations

from sqlalchemy import text

CHANNEL = "reportbox_webhooks"  # NOTIFY channel of webhook_messages' trigger (migration 0009)
LEASE_MARGIN = 30.0  # seconds a claim outlives the attempt's own timeout

# claim_lock: claims are taken one dispatcher at a time (for the length of a claim's
# transaction, a few milliseconds), so the per-endpoint count CLAIM_DUE reads is exact across
# dispatchers: two cannot both see an endpoint one below its limit and both take a message.
CLAIM_LOCK = text("SELECT pg_advisory_xact_lock(hashtext('reportbox.webhook_claims'))")

# claim_due: the oldest due messages of enabled endpoints below their in-flight limit, each
# with how many of its endpoint's messages are in flight (leased) in any dispatcher. The
# caller picks from them (shared/webhooks/claims.py choose) and leases what it picked with
# LEASE, which checks again that each is still due and unleased: no row lock is needed under
# CLAIM_LOCK. An endpoint at its limit is left out here, so its backlog never fills the
# window and hides other endpoints' messages. Served by webhook_messages_due and
# webhook_messages_in_flight.
CLAIM_DUE = text(
    """
    WITH flying AS (
        SELECT endpoint_id, count(*) AS n FROM webhook_messages
        WHERE state = 'pending' AND lease_until IS NOT NULL AND lease_until > now()
        GROUP BY endpoint_id)
    SELECT m.id, m.endpoint_id, coalesce(f.n, 0) AS flying
    FROM webhook_messages m JOIN webhook_endpoints e ON e.id = m.endpoint_id
        LEFT JOIN flying f ON f.endpoint_id = m.endpoint_id
    WHERE m.state = 'pending' AND m.next_attempt_at <= now()
      AND (m.lease_until IS NULL OR m.lease_until < now())
      AND NOT e.disabled
      AND coalesce(f.n, 0) < :endpoint_limit
    ORDER BY m.next_attempt_at
    LIMIT :limit
    """
)

# Counts the attempt when it starts, so one that never reports back (a crash) still counts.
# The previous secret signs only while its overlap lasts.
LEASE = text(
    """
    UPDATE webhook_messages m
    SET lease_until = now() + make_interval(secs => :lease_seconds), attempts = m.attempts + 1
    FROM webhook_endpoints e
    WHERE m.id = ANY(:ids) AND e.id = m.endpoint_id AND NOT e.disabled
      AND m.state = 'pending' AND (m.lease_until IS NULL OR m.lease_until < now())
    RETURNING m.id, m.endpoint_id, m.event_type, m.snapshot, m.occurred_at, m.attempts,
              e.url, e.secret, e.include_download_url, e.failing_since,
              CASE WHEN e.previous_secret_expires_at > now() THEN e.previous_secret END
                  AS previous_secret
    """
)

# Fenced by attempts, like the worker's transitions: an attempt whose lease ran out and was
# taken over cannot overwrite the newer attempt's record.
RECORD = text(
    """
    UPDATE webhook_messages
    SET state = CAST(:state AS text), lease_until = NULL,
        next_attempt_at = coalesce(:next_attempt_at, next_attempt_at),
        last_status_code = :status_code, last_error = :error,
        delivered_at = CASE WHEN CAST(:state AS text) = 'delivered' THEN now() END
    WHERE id = :id AND attempts = :attempts AND state = 'pending'
    """
)

# The endpoint's row, taken first by a record that disables it (endpoints.DISABLE then fails
# its other pending messages, which attempts recorded at the same time hold).
LOCK_ENDPOINT = text("SELECT id FROM webhook_endpoints WHERE id = :id FOR NO KEY UPDATE")

# Written only when it changes: a success on an endpoint that was not failing (nearly every
# attempt) leaves its row alone, so parallel attempts to one endpoint do not queue on its lock.
# Run before RECORD: the endpoint's row is locked before the message's, as everywhere else.
SET_FAILING_SINCE = text(
    """
    UPDATE webhook_endpoints SET failing_since = CAST(:failing_since AS timestamptz)
    WHERE id = :id AND failing_since IS DISTINCT FROM CAST(:failing_since AS timestamptz)
    """
)

# record_delivered: RECORD for many delivered attempts at once (dispatcher/group_commit.py),
# fenced the same way. Their endpoints' failing streaks end first (CLEAR_FAILING, endpoint
# rows before message rows, as in every other write of both).
RECORD_DELIVERED = text(
    """
    UPDATE webhook_messages m
    SET state = 'delivered', lease_until = NULL, last_status_code = v.status_code,
        last_error = NULL, delivered_at = now()
    FROM unnest(CAST(:ids AS uuid[]), CAST(:attempts AS int[]), CAST(:status_codes AS int[]))
        AS v(id, attempts, status_code)
    WHERE m.id = v.id AND m.attempts = v.attempts AND m.state = 'pending'
    """
)

CLEAR_FAILING = text(
    """
    UPDATE webhook_endpoints SET failing_since = NULL
    WHERE id = ANY(CAST(:ids AS uuid[])) AND failing_since IS NOT NULL
    """
)

# Seconds until the earliest pending message is due (NULL: none), by the database's clock.
NEXT_DUE_IN = text(
    """
    SELECT extract(epoch FROM min(next_attempt_at) - now()) AS seconds
    FROM webhook_messages WHERE state = 'pending'
    """
)

# An API's retry: due now, whatever it was. A message in flight keeps its lease, so it is never
# sent twice at once; the attempt under way then records its own outcome.
RETRY_NOW = text(
    """
    UPDATE webhook_messages m
    SET state = 'pending', next_attempt_at = now(),
        lease_until = CASE WHEN m.lease_until > now() THEN m.lease_until END
    FROM webhook_endpoints e
    WHERE m.id = :id AND m.endpoint_id = :endpoint_id AND e.id = m.endpoint_id AND e.org = :org
    RETURNING m.id
    """
)

INSERT_TEST = text(
    """
    INSERT INTO webhook_messages (id, endpoint_id, org, event_type, snapshot)
    VALUES (:id, :endpoint_id, :org, 'webhook.test', CAST(:snapshot AS jsonb))
    """
)

LIST = text(
    """
    SELECT id, event_type, state, attempts, last_status_code, last_error, next_attempt_at,
           delivered_at, occurred_at
    FROM webhook_messages
    WHERE endpoint_id = :endpoint_id AND (CAST(:state AS text) IS NULL OR state = :state)
    ORDER BY occurred_at DESC, id DESC
    LIMIT :limit
    """
)

# delete_ended: a delivered or failed message is history once the reports' row retention has
# passed (the relay's sweep runs this). A batch at a time, SKIP LOCKED to keep two sweepers
# apart; served by webhook_messages_ended.
DELETE_ENDED = text(
    """
    DELETE FROM webhook_messages WHERE id IN (
        SELECT id FROM webhook_messages
        WHERE state <> 'pending'
          AND occurred_at < now() - make_interval(secs => :retention_seconds)
        LIMIT :limit
        FOR UPDATE SKIP LOCKED)
    """
)

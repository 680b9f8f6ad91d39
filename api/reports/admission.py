"""Admitting a report request: replay, refuse (a duplicate, a reused key, a limit) or accept it.

Accepting writes the report row and its outbox message in one statement inside one
transaction; from the commit on, the request survives any crash, and the relay publishes
it even if RabbitMQ is down right now.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Engine

from api.auth import Principal
from shared.catalog import ReportType
from shared.db import UniqueViolation, first_row_in_transaction
from shared.errors import (
    AdmittedConcurrently,
    DuplicateActive,
    IdempotencyKeyReused,
    RateLimited,
    TooManyActive,
)
from shared.messages import ReportRequested


@dataclass(frozen=True)
class Accepted:
    report_id: uuid.UUID
    report_type: str
    created_at: datetime
    replayed: bool  # the first answer to an earlier request with the same Idempotency-Key
    message_id: uuid.UUID | None = None  # of the outbox message written now; None for a replay


class AdmissionState(NamedTuple):
    """ADMIT's row: what _decide needs, and created_at when the report was inserted."""

    replay_id: uuid.UUID | None
    replay_hash: str | None
    replay_type: str | None
    replay_created_at: datetime | None
    duplicate_id: uuid.UUID | None
    active: int
    recent: int
    recent_wait: int | None  # None when no recent report was counted
    created_at: datetime | None

    def replay(self) -> Accepted | None:
        """The earlier report of this Idempotency-Key (LEFT JOINed: all its columns or none)."""
        if self.replay_id is None or self.replay_type is None or self.replay_created_at is None:
            return None
        return Accepted(self.replay_id, self.replay_type, self.replay_created_at, replayed=True)


# lock_user: one user's admissions queue behind each other until commit, so the count of
# active reports cannot be outrun by concurrent requests; other users are not held up.
# A statement of its own: in READ COMMITTED each statement takes a new snapshot, so the
# admission statement after it sees every admission that committed while this one waited.
LOCK_USER = "SELECT pg_advisory_xact_lock(hashtext(%(org)s), hashtext(%(owner_id)s))"

# The span of MAX_REPORTS_PER_USER_PER_MINUTE.
RATE_WINDOW_SECONDS = 60
# When to try again with too many reports active: no one knows when one will end.
ACTIVE_RETRY_AFTER_SECONDS = 30

# admit: decide and, when nothing refuses, accept, in one statement. `state` is everything
# the decision needs (served by the indexes reports_idempotency_key,
# reports_active_request and reports_owner_history; each count stops at its limit, so it
# costs the same however many reports there are). `recent` counts the user's reports of the
# last minute whatever their status, so cancelling one gives nothing back; `recent_wait` is
# how long until the oldest of those counted leaves the window, and with it the refusal.
# The report and its outbox message are inserted only when no replay, duplicate or limit
# refuses; the outbox row is selected from the report insert, so neither
# exists without the other. The outbox trigger sends NOTIFY at commit. The refusal itself is
# worded in Python (_decide), from the same state, which the statement returns either way.
ADMIT = """
    WITH state AS (
        SELECT replay.id AS replay_id, replay.request_hash AS replay_hash,
               replay.report_type AS replay_type, replay.created_at AS replay_created_at,
               (SELECT id FROM reports
                WHERE org = %(org)s AND owner_id = %(owner_id)s
                  AND request_hash = %(request_hash)s AND status IN ('Pending', 'Processing')
                LIMIT 1) AS duplicate_id,
               (SELECT count(*) FROM (
                    SELECT 1 FROM reports
                    WHERE org = %(org)s AND owner_id = %(owner_id)s
                      AND status IN ('Pending', 'Processing')
                    LIMIT %(max_active)s) AS counted) AS active,
               recent.recent, recent.recent_wait
        FROM (SELECT 1) AS one
        LEFT JOIN reports AS replay
          ON replay.org = %(org)s AND replay.owner_id = %(owner_id)s
         AND replay.idempotency_key = %(idempotency_key)s
        CROSS JOIN LATERAL (
            SELECT count(*) AS recent,
                   CAST(ceil(extract(epoch FROM min(created_at) - now()
                        + make_interval(secs => %(window_seconds)s))) AS integer) AS recent_wait
            FROM (SELECT created_at FROM reports
                  WHERE org = %(org)s AND owner_id = %(owner_id)s
                    AND created_at > now() - make_interval(secs => %(window_seconds)s)
                  ORDER BY created_at DESC
                  LIMIT %(max_per_minute)s) AS latest
        ) AS recent
    ),
    report AS (
        INSERT INTO reports (id, org, owner_id, report_type, format, parameters, status,
                             idempotency_key, request_hash, definition_id, trigger)
        SELECT %(report_id)s, %(org)s, %(owner_id)s, %(report_type)s, %(format)s,
               CAST(%(parameters)s AS jsonb), 'Pending', %(idempotency_key)s, %(request_hash)s,
               %(definition_id)s, %(trigger)s
        FROM state
        WHERE state.replay_id IS NULL AND state.duplicate_id IS NULL
          AND (CAST(%(max_active)s AS bigint) IS NULL OR state.active < %(max_active)s)
          AND (CAST(%(max_per_minute)s AS bigint) IS NULL OR state.recent < %(max_per_minute)s)
        RETURNING created_at
    ),
    message AS (
        INSERT INTO outbox (message_id, message_type, report_id, body)
        SELECT %(message_id)s, %(message_type)s, %(report_id)s, %(body)s FROM report
    )
    SELECT state.*, (SELECT created_at FROM report) AS created_at FROM state
"""

# What the unique indexes report when a writer that skipped the lock loses a race.
ADMISSION_INDEXES = frozenset({"reports_active_request", "reports_idempotency_key"})


def request_hash(report_type: ReportType, report_format: str, parameters: dict[str, Any]) -> str:
    """Identifies "the same request": type, format and canonical parameters."""
    canonical = json.dumps(
        {"reportType": report_type.name, "format": report_format, "parameters": parameters},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def admit_parameters(
    principal: Principal,
    report_type: ReportType,
    report_format: str,
    parameters: dict[str, Any],
    message: ReportRequested,
    idempotency_key: str | None = None,
    max_active: int | None = None,
    max_per_minute: int | None = None,
    definition_id: uuid.UUID | None = None,
    trigger: str = "request",
) -> dict[str, Any]:
    """ADMIT's parameters for this request, its new report and that report's message."""
    return {
        "org": principal.org,
        "owner_id": principal.user_id,
        "report_id": message.report_id,
        "report_type": report_type.name,
        "format": report_format,
        "parameters": json.dumps(parameters),
        "idempotency_key": idempotency_key,
        "request_hash": request_hash(report_type, report_format, parameters),
        "max_active": max_active,
        "max_per_minute": max_per_minute,
        "definition_id": definition_id,
        "trigger": trigger,
        "window_seconds": RATE_WINDOW_SECONDS,
        "message_id": message.message_id,
        "message_type": message.TYPE,
        "body": message.encode(),
    }


def admit(
    engine: Engine,
    principal: Principal,
    report_type: ReportType,
    report_format: str,
    parameters: dict[str, Any],
    *,
    idempotency_key: str | None = None,
    max_active: int | None = None,
    max_per_minute: int | None = None,
    definition_id: uuid.UUID | None = None,
    trigger: str = "request",
) -> Accepted:
    """Replay the first answer to a retried key, refuse a duplicate (DuplicateActive), a
    reused key (IdempotencyKeyReused) or one too many active (TooManyActive) or this minute
    (RateLimited), or accept the request and make it durable. A replay is answered
    whatever the limits, and counts against neither. A run of a report definition names it
    (definition_id) and what made it (trigger)."""
    message = ReportRequested.new(uuid.uuid4())
    values = admit_parameters(
        principal,
        report_type,
        report_format,
        parameters,
        message,
        idempotency_key,
        max_active,
        max_per_minute,
        definition_id,
        trigger,
    )
    # Two statements on the hottest path, on the driver itself (see first_row_in_transaction).
    # psycopg's pipeline mode (one round trip for all of it) measured no faster here, in
    # process or under wrk. A refusal commits an empty transaction, which changes nothing.
    try:
        state = first_row_in_transaction(engine, (LOCK_USER, ADMIT), values, AdmissionState)
    except UniqueViolation as exc:
        if exc.constraint in ADMISSION_INDEXES:
            raise AdmittedConcurrently() from exc
        raise
    if state is None:  # ADMIT selects from its one-row `state` whatever it decides
        raise RuntimeError("the admission statement answered no row")
    if state.created_at is None:
        replay = _decide(state, values["request_hash"], max_active, max_per_minute)
        if replay is None:  # the statement and _decide disagree: a bug, never a silent 202
            raise RuntimeError("the admission refused a request that _decide accepts")
        return replay
    return Accepted(
        message.report_id,
        report_type.name,
        state.created_at,
        replayed=False,
        message_id=message.message_id,
    )


def _decide(
    state: AdmissionState, fingerprint: str, max_active: int | None, max_per_minute: int | None
) -> Accepted | None:
    """The earlier answer to replay; raises the reason to refuse; None to accept."""
    replay = state.replay()
    if replay is not None:
        if state.replay_hash != fingerprint:
            raise IdempotencyKeyReused()
        return replay
    if state.duplicate_id is not None:
        raise DuplicateActive(state.duplicate_id)
    if max_active is not None and state.active >= max_active:
        raise TooManyActive(state.active, max_active, ACTIVE_RETRY_AFTER_SECONDS)
    if max_per_minute is not None and state.recent >= max_per_minute:
        raise RateLimited(state.recent, max_per_minute, max(1, state.recent_wait or 0))
    return None

"""Admitting a report request: replay, refuse (409, 422, 429) or accept it durably.

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
from typing import Any

import sqlalchemy.exc
from sqlalchemy import Engine, text

from api.auth import Principal
from api.errors import ApiError
from shared.catalog import ReportType
from shared.db import translate_errors
from shared.messages import ReportRequested


@dataclass(frozen=True)
class Accepted:
    report_id: uuid.UUID
    report_type: str
    created_at: datetime
    replayed: bool  # the first answer to an earlier request with the same Idempotency-Key
    message_id: str | None = None  # of the outbox message written now; None for a replay


# lock_user: one user's admissions queue behind each other until commit, so the count of
# active reports cannot be outrun by concurrent requests; other users are not held up.
LOCK_USER = text("SELECT pg_advisory_xact_lock(hashtext(:org), hashtext(:owner_id))")

# admission_state: everything the decision needs, in one round trip. Served by the indexes
# reports_idempotency_key and reports_active_request.
ADMISSION_STATE = text(
    """
    SELECT replay.id AS replay_id, replay.request_hash AS replay_hash,
           replay.report_type AS replay_type, replay.created_at AS replay_created_at,
           (SELECT id FROM reports
            WHERE org = :org AND owner_id = :owner_id AND request_hash = :request_hash
              AND status IN ('Pending', 'Processing')
            LIMIT 1) AS duplicate_id,
           (SELECT count(*) FROM reports
            WHERE org = :org AND owner_id = :owner_id
              AND status IN ('Pending', 'Processing')) AS active
    FROM (SELECT 1) AS one
    LEFT JOIN reports AS replay
      ON replay.org = :org AND replay.owner_id = :owner_id
     AND replay.idempotency_key = :idempotency_key
    """
)

# accept_report: the report and its outbox message in one statement; the outbox row is
# selected from the report insert, so neither exists without the other. The outbox trigger
# sends NOTIFY at commit.
ACCEPT = text(
    """
    WITH report AS (
        INSERT INTO reports (id, org, owner_id, report_type, format, parameters, status,
                             idempotency_key, request_hash)
        VALUES (:report_id, :org, :owner_id, :report_type, :format, CAST(:parameters AS jsonb),
                'Pending', :idempotency_key, :request_hash)
        RETURNING created_at
    )
    INSERT INTO outbox (message_id, message_type, report_id, body)
    SELECT :message_id, :message_type, :report_id, :body FROM report
    RETURNING (SELECT created_at FROM report)
    """
)

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


def admit(
    engine: Engine,
    principal: Principal,
    report_type: ReportType,
    report_format: str,
    parameters: dict[str, Any],
    *,
    idempotency_key: str | None = None,
    max_active: int | None = None,
) -> Accepted:
    """Replay the first answer to a retried key, refuse a duplicate (409), a reused key
    (422) or one too many (429), or accept the request and make it durable."""
    fingerprint = request_hash(report_type, report_format, parameters)
    owner = {"org": principal.org, "owner_id": principal.user_id}
    report_id = uuid.uuid4()
    message = ReportRequested.new(report_id)
    try:
        # A plain connection, not an ORM session: these are three SQL statements, and the
        # session's bookkeeping cost more than they do.
        with translate_errors(), engine.begin() as connection:
            connection.execute(LOCK_USER, owner)
            state = connection.execute(
                ADMISSION_STATE,
                {**owner, "request_hash": fingerprint, "idempotency_key": idempotency_key},
            ).one()
            replay = _decide(state, fingerprint, max_active)
            if replay is not None:
                return replay
            created_at = connection.execute(
                ACCEPT,
                {
                    **owner,
                    "report_id": report_id,
                    "report_type": report_type.name,
                    "format": report_format,
                    "parameters": json.dumps(parameters),
                    "idempotency_key": idempotency_key,
                    "request_hash": fingerprint,
                    "message_id": message.message_id,
                    "message_type": message.TYPE,
                    "body": message.encode(),
                },
            ).scalar_one()
    except sqlalchemy.exc.IntegrityError as exc:
        if getattr(exc.orig.diag, "constraint_name", None) in ADMISSION_INDEXES:
            raise ApiError(409, "Conflict", "An identical request was accepted just now.") from exc
        raise
    return Accepted(
        report_id, report_type.name, created_at, replayed=False, message_id=message.message_id
    )


def _decide(state: Any, fingerprint: str, max_active: int | None) -> Accepted | None:
    """The earlier answer to replay; raises the reason to refuse; None to accept."""
    if state.replay_id is not None:
        if state.replay_hash != fingerprint:
            raise ApiError(
                422,
                "Unprocessable Content",
                "This Idempotency-Key was used with a different request.",
                errors={"Idempotency-Key": ["was used with a different request"]},
            )
        return Accepted(state.replay_id, state.replay_type, state.replay_created_at, True)
    if state.duplicate_id is not None:
        raise ApiError(
            409,
            "Conflict",
            "An identical report is already Pending or Processing.",
            existingReportId=str(state.duplicate_id),
        )
    if max_active is not None and state.active >= max_active:
        raise ApiError(
            429,
            "Too Many Requests",
            f"You have {state.active} reports Pending or Processing; at most {max_active} may be.",
            headers={"Retry-After": "30"},
        )
    return None

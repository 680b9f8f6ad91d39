"""The worker's writes to a report row. Each is one conditional UPDATE, so concurrent
workers, redeliveries and cancels are decided by PostgreSQL, never by a read-then-write."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from shared.db import translate_errors
from shared.storage import UploadedObject


@dataclass(frozen=True)
class Claim:
    """A report this worker now holds; `attempt` fences every later write."""

    report_id: uuid.UUID
    org: str
    report_type: str
    format: str
    parameters: dict[str, Any]
    attempt: int
    cancel_requested: bool


class LeaseState(enum.Enum):
    HELD = "held"
    CANCEL_REQUESTED = "cancel-requested"
    LOST = "lost"


@dataclass(frozen=True)
class ReportState:
    status: str
    lease_expires_at: datetime | None
    lease_live: bool
    cancel_requested: bool


# claim_report: Pending → Processing, or takes over a Processing report whose lease ran out
# (its worker died). Two deliveries of the same message race here and exactly one UPDATE
# matches; attempts is the fencing token that later writes must present.
CLAIM = text(
    """
    UPDATE reports
    SET status = 'Processing',
        started_at = coalesce(started_at, now()),
        lease_expires_at = now() + make_interval(secs => :lease_seconds),
        attempts = attempts + 1,
        rows_processed = 0
    WHERE id = :report_id
      AND (status = 'Pending' OR (status = 'Processing' AND lease_expires_at < now()))
    RETURNING id, org, report_type, format, parameters, attempts, cancel_requested
    """
)

STATE = text(
    """
    SELECT status, lease_expires_at, coalesce(lease_expires_at > now(), false) AS lease_live,
           cancel_requested
    FROM reports WHERE id = :report_id
    """
)

# The fenced writes below match only while this worker still holds the claim: a takeover
# after an expired lease bumps attempts. RENEW also carries progress, and tells the worker
# whether a cancel was requested.
RENEW = text(
    """
    UPDATE reports
    SET lease_expires_at = now() + make_interval(secs => :lease_seconds),
        rows_processed = :rows_processed,
        rows_total = coalesce(:rows_total, rows_total)
    WHERE id = :report_id AND status = 'Processing' AND attempts = :attempt
    RETURNING cancel_requested
    """
)

COMPLETE = text(
    """
    UPDATE reports
    SET status = 'Completed', completed_at = now(), lease_expires_at = NULL,
        object_key = :object_key, file_name = :file_name, content_type = :content_type,
        size_bytes = :size_bytes, row_count = :row_count, rows_processed = :row_count,
        rows_total = :row_count, sha256 = :sha256,
        expires_at = now() + make_interval(secs => :retention_seconds)
    WHERE id = :report_id AND status = 'Processing' AND attempts = :attempt
      AND NOT cancel_requested
    """
)

# complete vs cancel: the API's cancel sets cancel_requested only while the report is
# Processing, and COMPLETE refuses once it is set, so exactly one of the two wins.
CANCEL = text(
    """
    UPDATE reports
    SET status = 'Cancelled', completed_at = now(), lease_expires_at = NULL
    WHERE id = :report_id AND status = 'Processing' AND attempts = :attempt AND cancel_requested
    """
)

FAIL = text(
    """
    UPDATE reports
    SET status = 'Failed', completed_at = now(), lease_expires_at = NULL,
        error_code = :code, error_message = :message
    WHERE id = :report_id AND status = 'Processing' AND attempts = :attempt
    """
)

# Hands a report back after a transient fault, so the next delivery can claim it at once.
RELEASE = text(
    """
    UPDATE reports SET status = 'Pending', lease_expires_at = NULL
    WHERE id = :report_id AND status = 'Processing' AND attempts = :attempt
    """
)


class Lifecycle:
    def __init__(
        self, session_factory: sessionmaker[Session], lease_seconds: int, retention_seconds: float
    ) -> None:
        self._sessions = session_factory
        self.lease_seconds = lease_seconds
        self._retention_seconds = retention_seconds

    def _write(self, statement: Any, **params: Any) -> Any:
        with translate_errors(), self._sessions() as session, session.begin():
            return session.execute(statement, params)

    def claim(self, report_id: uuid.UUID) -> Claim | None:
        row = self._write(CLAIM, report_id=report_id, lease_seconds=self.lease_seconds).first()
        if row is None:
            return None
        return Claim(
            row.id,
            row.org,
            row.report_type,
            row.format,
            row.parameters,
            row.attempts,
            row.cancel_requested,
        )

    def state(self, report_id: uuid.UUID) -> ReportState | None:
        with translate_errors(), self._sessions() as session:
            row = session.execute(STATE, {"report_id": report_id}).first()
        if row is None:
            return None
        return ReportState(row.status, row.lease_expires_at, row.lease_live, row.cancel_requested)

    def renew(self, claim: Claim, rows_processed: int, rows_total: int | None) -> LeaseState:
        """Extend the lease and record progress."""
        row = self._write(
            RENEW,
            report_id=claim.report_id,
            attempt=claim.attempt,
            lease_seconds=self.lease_seconds,
            rows_processed=rows_processed,
            rows_total=rows_total,
        ).first()
        if row is None:
            return LeaseState.LOST
        return LeaseState.CANCEL_REQUESTED if row.cancel_requested else LeaseState.HELD

    def complete(
        self,
        claim: Claim,
        uploaded: UploadedObject,
        file_name: str,
        content_type: str,
        row_count: int,
    ) -> bool:
        result = self._write(
            COMPLETE,
            report_id=claim.report_id,
            attempt=claim.attempt,
            object_key=uploaded.key,
            file_name=file_name,
            content_type=content_type,
            size_bytes=uploaded.size_bytes,
            row_count=row_count,
            sha256=uploaded.sha256,
            retention_seconds=self._retention_seconds,
        )
        return result.rowcount == 1

    def fail(self, claim: Claim, code: str, message: str) -> bool:
        result = self._write(
            FAIL, report_id=claim.report_id, attempt=claim.attempt, code=code, message=message
        )
        return result.rowcount == 1

    def cancel(self, claim: Claim) -> bool:
        """Record that this worker stopped because a cancel was requested."""
        result = self._write(CANCEL, report_id=claim.report_id, attempt=claim.attempt)
        return result.rowcount == 1

    def release(self, claim: Claim) -> bool:
        result = self._write(RELEASE, report_id=claim.report_id, attempt=claim.attempt)
        return result.rowcount == 1

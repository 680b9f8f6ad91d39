"""The worker's writes to a report row: the transitions of shared/transitions.py, and the
lease renewal that carries progress."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_client import Counter
from sqlalchemy import CursorResult, Engine, TextClause, text

from shared import report_counters, transitions
from shared.config import Settings
from shared.db import translate_errors
from shared.deliveries.rows import record_run_deliveries
from shared.statuses import ReportStatus
from shared.storage import UploadedObject
from shared.webhooks.events import record_report_events


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
    taken_over: bool = False  # from a worker whose lease ran out
    spent: int = 1  # attempts charged against the maximum, this one included


class LeaseState(enum.Enum):
    HELD = "held"
    CANCEL_REQUESTED = "cancel-requested"
    LOST = "lost"


@dataclass(frozen=True)
class ReportState:
    status: ReportStatus
    lease_expires_at: datetime | None
    lease_live: bool
    cancel_requested: bool


STATE = text(
    """
    SELECT status, lease_expires_at, coalesce(lease_expires_at > now(), false) AS lease_live,
           cancel_requested
    FROM reports WHERE id = :report_id
    """
)

# Extends the lease while this worker still holds the claim (fenced like the transitions),
# records progress, and tells the worker whether a cancel was requested.
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


class Lifecycle:
    def __init__(
        self,
        engine: Engine,
        lease_seconds: int,
        retention_seconds: float,
        max_attempts: int = Settings.max_attempts,
    ) -> None:
        # Each transition is one statement: Core connections, not ORM sessions, whose
        # bookkeeping cost more CPU than the statement on small reports.
        self._engine = engine
        self.lease_seconds = lease_seconds
        self._retention_seconds = retention_seconds
        self.max_attempts = max_attempts

    def _write(self, statement: TextClause, **params: Any) -> CursorResult[Any]:
        with translate_errors(), self._engine.begin() as connection:
            return connection.execute(statement, params)

    def _end(self, statement: Any, event_type: str, **params: Any) -> Any:
        """A transition that ends the report: its webhook event (and, when it completes a
        definition's run, its deliveries) in the same transaction.

        The statement's first row (or, without RETURNING, whether it matched); the event is
        written only when it did, so a redelivery that changes nothing sends nothing.
        """
        with translate_errors(), self._engine.begin() as connection:
            result = connection.execute(statement, params)
            made = result.first() if result.returns_rows else result.rowcount == 1
            if made:
                record_report_events(connection, event_type, [params["report_id"]])
                if event_type == "report.completed":
                    record_run_deliveries(connection, params["report_id"])
            return made

    def claim(self, report_id: uuid.UUID) -> Claim | None:
        row = self._write(
            transitions.CLAIM.statement,
            report_id=report_id,
            lease_seconds=self.lease_seconds,
            max_attempts=self.max_attempts,
        ).first()
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
            row.taken_over,
            row.spent,
        )

    def give_up(self, report_id: uuid.UUID) -> int | None:
        """Fail an unheld report that spent all its attempts; how many it spent, or None."""
        row = self._end(
            transitions.GIVE_UP.statement,
            "report.failed",
            report_id=report_id,
            max_attempts=self.max_attempts,
            code="gave_up",
            message=(
                f"Gave up after {self.max_attempts} "
                f"attempt{'' if self.max_attempts == 1 else 's'}: none of them could finish."
            ),
        )
        if row is None:
            return None
        report_counters.FAILED.labels(row.report_type).inc()
        return int(row.spent)

    def state(self, report_id: uuid.UUID) -> ReportState | None:
        with translate_errors(), self._engine.connect() as connection:
            row = connection.execute(STATE, {"report_id": report_id}).first()
        if row is None:
            return None
        return ReportState(
            ReportStatus(row.status), row.lease_expires_at, row.lease_live, row.cancel_requested
        )

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
        made = self._end(
            transitions.COMPLETE.statement,
            "report.completed",
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
        return _counted(made, report_counters.COMPLETED, claim)

    def fail(self, claim: Claim, code: str, message: str) -> bool:
        made = self._end(
            transitions.FAIL.statement,
            "report.failed",
            report_id=claim.report_id,
            attempt=claim.attempt,
            code=code,
            message=message,
        )
        return _counted(made, report_counters.FAILED, claim)

    def cancel(self, claim: Claim) -> bool:
        """Record that this worker stopped because a cancel was requested."""
        made = self._end(
            transitions.CANCEL_RUNNING.statement,
            "report.cancelled",
            report_id=claim.report_id,
            attempt=claim.attempt,
        )
        return _counted(made, report_counters.CANCELLED, claim)

    def release(self, claim: Claim, *, charged: bool = True) -> bool:
        """Make the report Pending again; uncharged (a shutdown), the attempt is not spent."""
        statement = transitions.RELEASE if charged else transitions.HAND_BACK
        result = self._write(statement.statement, report_id=claim.report_id, attempt=claim.attempt)
        return result.rowcount == 1


def _counted(made: bool, outcome: Counter, claim: Claim) -> bool:
    """Count a transition this worker made (its transaction has committed); pass `made` on."""
    if made:
        outcome.labels(claim.report_type).inc()
    return made

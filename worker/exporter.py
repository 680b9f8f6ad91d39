"""Turns one report request into one object in storage and a terminal row, and says how it went.

The exporter decides nothing about the broker: it returns an Outcome, and worker.py alone maps
outcomes to acks, retries and dead letters.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import threading
import time
import uuid
from collections.abc import Iterator, Mapping

from marshmallow import ValidationError
from sqlalchemy import Engine

from shared.catalog import Query, get_report_type
from shared.db import DatabaseUnavailable, QueryCancelled, QueryFailed
from shared.statuses import ReportStatus
from shared.storage import (
    Storage,
    StorageError,
    StorageUnavailable,
    UploadedObject,
    report_object_key,
)
from worker import metrics
from worker.formats import FORMATS, ExportFormat, ExportRefused
from worker.interrupt import Interrupt, StopReason
from worker.lease import LeaseKeeper
from worker.lifecycle import Claim, Lifecycle
from worker.source import cancel_running_query, estimate_rows, export_cursor

log = logging.getLogger(__name__)

MAX_EXPORT_SECONDS = 3600.0  # an export that runs longer fails with code "timeout"

UNREACHABLE: dict[type[Exception], str] = {
    DatabaseUnavailable: "the database",
    StorageUnavailable: "the file storage",
}


class Outcome(enum.Enum):
    """How one delivery of a report request ended, as far as the report is concerned."""

    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"  # a permanent fault, or an unexpected error: the report is Failed
    SKIPPED = "skipped"  # already finished, or not ours to build
    CLAIM_LOST = "claim-lost"  # another worker took it over; that worker finishes it
    HANDED_BACK = "handed-back"  # released at shutdown, for another worker to take at once
    HELD_ELSEWHERE = "held-elsewhere"  # another worker's lease is live: look again after it
    RETRY_LATER = "retry-later"  # a transient fault; the report was released
    GAVE_UP = "gave-up"  # out of attempts: the report is Failed
    UNKNOWN_REPORT = "unknown-report"  # the message names no report


class PermanentFailure(Exception):
    """The report cannot be built, however often it is tried."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Stopped(Exception):
    """The export stopped before its end, for the reason given."""

    def __init__(self, reason: StopReason) -> None:
        super().__init__(reason.value)
        self.reason = reason


class Exporter:
    def __init__(
        self,
        lifecycle: Lifecycle,
        source: Engine,
        storage: Storage,
        progress_interval: float = 1.0,
        formats: Mapping[str, ExportFormat] = FORMATS,
        *,
        max_export_seconds: float = MAX_EXPORT_SECONDS,
    ) -> None:
        self._progress_interval = progress_interval
        self._formats = formats
        self._lifecycle = lifecycle
        self._source = source
        self._storage = storage
        self._max_export_seconds = max_export_seconds
        self._handing_back = threading.Event()
        self._running: set[Interrupt] = set()
        self._running_lock = threading.Lock()

    def hand_back(self) -> None:
        """Stop the exports in progress, their queries included, and release their reports."""
        self._handing_back.set()
        with self._running_lock:
            running = list(self._running)
        for interrupt in running:
            interrupt.request(StopReason.HANDED_BACK)

    def process(self, report_id: uuid.UUID) -> Outcome:
        """Build the report if it is ours to build; idempotent for redelivered messages."""
        claim = self._lifecycle.claim(report_id)
        if claim is not None:
            return self._export_claimed(claim)
        attempts = self._lifecycle.give_up(report_id)
        if attempts is not None:
            log.error("export.gave_up report_id=%s attempts=%d", report_id, attempts)
            return Outcome.GAVE_UP
        state = self._lifecycle.state(report_id)
        if state is None:
            log.error("export.unknown_report report_id=%s", report_id)
            return Outcome.UNKNOWN_REPORT
        if state.status is not ReportStatus.PROCESSING:
            log.info("export.skipped report_id=%s status=%s", report_id, state.status)
            return Outcome.SKIPPED
        # Another worker holds a live lease. This may be a duplicate message, or the
        # redelivery of a message whose worker just died: it must come back once the lease
        # has run out, to claim (or skip) the report, but not hold an export slot until then.
        log.info("export.held_elsewhere report_id=%s", report_id)
        return Outcome.HELD_ELSEWHERE

    def _export_claimed(self, claim: Claim) -> Outcome:
        log.info(
            "export.started report_id=%s type=%s format=%s attempt=%d taken_over=%s",
            claim.report_id,
            claim.report_type,
            claim.format,
            claim.attempt,
            claim.taken_over,
        )
        if claim.taken_over:
            metrics.TAKEOVERS.inc()
        started = time.monotonic()
        outcome = self._export_outcome(claim)
        metrics.EXPORT_SECONDS.labels(claim.format, outcome.value).observe(
            time.monotonic() - started
        )
        return outcome

    def _export_outcome(self, claim: Claim) -> Outcome:
        try:
            if claim.cancel_requested:  # taken over from a worker that died after a cancel
                raise Stopped(StopReason.CANCEL_REQUESTED)
            self._build(claim)
        except Stopped as stopped:
            return self._stopped(claim, stopped.reason)
        except PermanentFailure as failure:
            return self._failed(claim, failure.code, failure.message)
        except (DatabaseUnavailable, StorageUnavailable) as exc:
            return self._transient(claim, exc)
        except Exception as exc:
            # Whatever else an export raises is a bug, not a fault that passes: retrying it
            # would loop. The report ends Failed; the traceback goes to the log only.
            log.exception("export.unexpected_error report_id=%s", claim.report_id)
            return self._failed(
                claim,
                "internal",
                f"The export stopped on an unexpected error ({type(exc).__name__}).",
            )
        return Outcome.COMPLETED

    def _failed(self, claim: Claim, code: str, message: str) -> Outcome:
        log.warning("export.failed report_id=%s code=%s message=%s", claim.report_id, code, message)
        try:
            self._lifecycle.fail(claim, code, message)
        except DatabaseUnavailable:
            return self._transient(claim, DatabaseUnavailable("could not record the failure"))
        return Outcome.FAILED

    def _stopped(self, claim: Claim, reason: StopReason) -> Outcome:
        if reason is StopReason.CANCEL_REQUESTED:
            self._lifecycle.cancel(claim)
            log.info("export.cancelled report_id=%s", claim.report_id)
            return Outcome.CANCELLED
        if reason is StopReason.CLAIM_LOST:
            log.warning("export.claim_lost report_id=%s", claim.report_id)
            return Outcome.CLAIM_LOST
        if reason is StopReason.HANDED_BACK:
            log.warning("export.handed_back report_id=%s", claim.report_id)
            self._release(claim, charged=False)
            return Outcome.HANDED_BACK
        return self._failed(
            claim,
            "timeout",
            f"The export took longer than the maximum of {self._max_export_seconds:g} seconds.",
        )

    def _transient(self, claim: Claim, exc: Exception) -> Outcome:
        """Retry later, or after the last attempt fail the report."""
        if claim.spent >= self._lifecycle.max_attempts:
            what = UNREACHABLE.get(type(exc), "a service it needs")
            attempts = f"{claim.spent} attempt{'' if claim.spent == 1 else 's'}"
            message = f"Gave up after {attempts}: {what} could not be reached."
            log.error("export.gave_up report_id=%s error=%s", claim.report_id, exc)
            try:
                self._lifecycle.fail(claim, "unavailable", message)
            except DatabaseUnavailable:
                return Outcome.RETRY_LATER  # the next delivery gives up once the lease ran out
            return Outcome.GAVE_UP
        log.warning(
            "export.retrying report_id=%s attempt=%d error=%s", claim.report_id, claim.attempt, exc
        )
        self._release(claim)
        return Outcome.RETRY_LATER

    def _release(self, claim: Claim, *, charged: bool = True) -> None:
        """Hand the report back at once, so the next delivery need not wait for the lease."""
        try:
            self._lifecycle.release(claim, charged=charged)
        except DatabaseUnavailable:
            pass  # the lease runs out instead, and the next delivery takes the report over

    def _build(self, claim: Claim) -> None:
        report_type = get_report_type(claim.report_type)
        export_format = self._formats.get(claim.format)
        if report_type is None or export_format is None:
            raise PermanentFailure(
                "unsupported",
                f"Report type {claim.report_type!r} in format {claim.format!r} is not available.",
            )
        try:
            parameters = report_type.load_parameters(claim.parameters)
            query = report_type.query_for(claim.org, parameters)
        except ValidationError as exc:
            raise PermanentFailure(
                "invalid_parameters", f"Invalid parameters: {exc.messages}"
            ) from exc

        # Each attempt writes an object of its own: one that lost its claim can never
        # overwrite the file that another attempt completed.
        key = report_object_key(claim.org, claim.report_id, claim.attempt, export_format.extension)
        self._delete_earlier_attempts(claim, export_format.extension)
        file_name = report_type.file_name(parameters, export_format.extension)
        interrupt = Interrupt()
        deadline = time.monotonic() + self._max_export_seconds
        with (
            self._tracked(interrupt),
            LeaseKeeper(
                self._lifecycle, claim, self._progress_interval, interrupt, deadline
            ) as lease,
        ):
            uploaded, rows = self._stream_to_storage(key, export_format, query, lease, interrupt)
        if not self._lifecycle.complete(
            claim, uploaded, file_name, export_format.content_type, rows
        ):
            self._not_completed(claim, uploaded)
        metrics.ROWS.labels(claim.format).inc(rows)
        metrics.BYTES.labels(claim.format).inc(uploaded.size_bytes)
        log.info(
            "export.completed report_id=%s rows=%d bytes=%d",
            claim.report_id,
            rows,
            uploaded.size_bytes,
        )

    def _delete_earlier_attempts(self, claim: Claim, extension: str) -> None:
        """An attempt that died after its upload left an object no row names. This claim
        matched, so the report is not Completed and none of them is anybody's file."""
        for attempt in range(1, claim.attempt):
            self._storage.delete(report_object_key(claim.org, claim.report_id, attempt, extension))

    @contextlib.contextmanager
    def _tracked(self, interrupt: Interrupt) -> Iterator[None]:
        """While the export runs, hand_back() can reach its interrupt."""
        with self._running_lock:
            self._running.add(interrupt)
        try:
            if self._handing_back.is_set():
                interrupt.request(StopReason.HANDED_BACK)
            yield
        finally:
            with self._running_lock:
                self._running.discard(interrupt)

    def _not_completed(self, claim: Claim, uploaded: UploadedObject) -> None:
        """COMPLETE matched no row: a cancel won the race, or another worker took over.

        Either way this attempt's object is nobody's file: it goes, then the outcome is told.
        """
        self._storage.delete(uploaded.key)
        state = self._lifecycle.state(claim.report_id)
        if state is not None and state.cancel_requested:
            raise Stopped(StopReason.CANCEL_REQUESTED)
        raise Stopped(StopReason.CLAIM_LOST)

    def _stream_to_storage(
        self,
        key: str,
        export_format: ExportFormat,
        query: Query,
        lease: LeaseKeeper,
        interrupt: Interrupt,
    ) -> tuple[UploadedObject, int]:
        try:
            with self._storage.start_upload(key, export_format.content_type) as upload:
                for chunk in self._rows(export_format, query, lease, interrupt):
                    upload.write(chunk)
                return upload.complete(), lease.rows_processed
        except StorageUnavailable:
            raise
        except StorageError as exc:
            raise PermanentFailure("storage_failed", "The file could not be stored.") from exc

    def _rows(
        self, export_format: ExportFormat, query: Query, lease: LeaseKeeper, interrupt: Interrupt
    ) -> Iterator[bytes]:
        timeout_ms = int(self._max_export_seconds * 1000)
        try:
            with export_cursor(self._source, timeout_ms, query.timezone) as cursor:
                interrupt.attach(lambda: cancel_running_query(cursor))
                try:
                    _check(interrupt)
                    lease.rows_total = estimate_rows(cursor, query)
                    for chunk in export_format.stream(cursor, query, lease):
                        _check(interrupt)
                        yield chunk
                finally:
                    interrupt.detach()
        except ExportRefused as refused:  # e.g. more rows than a PDF may hold
            raise PermanentFailure(refused.code, refused.message) from refused
        except QueryCancelled as exc:
            # Cancelled by the interrupt, or the server's statement timeout: the deadline.
            raise Stopped(interrupt.reason or StopReason.DEADLINE) from exc
        except QueryFailed as exc:
            log.error("export.query_failed error=%s", exc)
            raise PermanentFailure("query_failed", "The report query failed.") from exc


def _check(interrupt: Interrupt) -> None:
    """Between two chunks: stop when the export is no longer this worker's to finish."""
    if interrupt.reason is not None:
        raise Stopped(interrupt.reason)

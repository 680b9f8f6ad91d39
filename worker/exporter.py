"""Turns one report request into one object in storage and a Completed (or Failed) row."""

from __future__ import annotations

import enum
import logging
import threading
import time
import uuid
from collections.abc import Iterator, Mapping

import psycopg
from marshmallow import ValidationError
from sqlalchemy import Engine

from shared.catalog import Query, get_report_type
from shared.db import DatabaseUnavailable, translate_errors
from shared.storage import Storage, StorageError, StorageUnavailable, UploadedObject
from worker.formats import FORMATS, ExportFormat
from worker.lease import LeaseKeeper
from worker.lifecycle import Claim, Lifecycle

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5  # claims of one report before a transient fault counts as final
MAX_EXPORT_SECONDS = 3600.0  # an export that runs longer fails with code "timeout"
WAIT_POLL = 2.0  # seconds between looks at a report another worker holds

UNREACHABLE = {DatabaseUnavailable: "the database", StorageUnavailable: "the file storage"}


class Disposition(enum.Enum):
    """What to tell the broker about the message once the work is done."""

    ACK = "ack"
    RETRY = "retry"  # a transient fault: again after a backoff, without holding a prefetch slot
    REQUEUE = "requeue"  # not ours to finish now (shutting down): straight back to the queue
    DEAD_LETTER = "dead-letter"


class PermanentFailure(Exception):
    """The report cannot be built, however often it is tried."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class ClaimLost(Exception):
    """Another worker took the report over mid-export."""


class CancelRequested(Exception):
    """The client cancelled the report while it was being built."""


class HandedBack(Exception):
    """The worker is shutting down and its grace period ran out: give the report back."""


class Exporter:
    def __init__(
        self,
        lifecycle: Lifecycle,
        source: Engine,
        storage: Storage,
        stopping: threading.Event,
        progress_interval: float = 1.0,
        formats: Mapping[str, ExportFormat] = FORMATS,
        *,
        max_attempts: int = MAX_ATTEMPTS,
        max_export_seconds: float = MAX_EXPORT_SECONDS,
    ) -> None:
        self._progress_interval = progress_interval
        self._formats = formats
        self._lifecycle = lifecycle
        self._source = source
        self._storage = storage
        self._stopping = stopping
        self._max_attempts = max_attempts
        self._max_export_seconds = max_export_seconds
        self._handing_back = threading.Event()

    def hand_back(self) -> None:
        """Make the exports in progress stop between two chunks and release their reports."""
        self._handing_back.set()

    def process(self, report_id: uuid.UUID) -> Disposition:
        """Build the report if it is ours to build; idempotent for redelivered messages."""
        while True:
            claim = self._lifecycle.claim(report_id)
            if claim is not None:
                return self._export_claimed(claim)
            state = self._lifecycle.state(report_id)
            if state is None:
                log.error("export.unknown_report report_id=%s", report_id)
                return Disposition.DEAD_LETTER
            if state.status != "Processing":
                log.info("export.skipped report_id=%s status=%s", report_id, state.status)
                return Disposition.ACK
            # Another worker holds a live lease. It may be a duplicate message, or the
            # redelivery of a message whose worker just died: wait until the report ends
            # or the lease runs out, then claim (or skip) it.
            if self._stopping.wait(WAIT_POLL):
                return Disposition.REQUEUE

    def _export_claimed(self, claim: Claim) -> Disposition:
        log.info(
            "export.started report_id=%s type=%s attempt=%d",
            claim.report_id,
            claim.report_type,
            claim.attempt,
        )
        try:
            if claim.cancel_requested:  # taken over from a worker that died after a cancel
                raise CancelRequested()
            self._build(claim)
        except CancelRequested:
            self._lifecycle.cancel(claim)
            log.info("export.cancelled report_id=%s", claim.report_id)
            return Disposition.ACK
        except PermanentFailure as failure:
            log.warning(
                "export.failed report_id=%s code=%s message=%s",
                claim.report_id,
                failure.code,
                failure.message,
            )
            self._lifecycle.fail(claim, failure.code, failure.message)
            return Disposition.ACK
        except ClaimLost:
            log.warning("export.claim_lost report_id=%s", claim.report_id)
            return Disposition.ACK
        except HandedBack:
            log.warning("export.handed_back report_id=%s", claim.report_id)
            self._release(claim)
            return Disposition.REQUEUE
        except (DatabaseUnavailable, StorageUnavailable) as exc:
            return self._transient(claim, exc)
        return Disposition.ACK

    def _transient(self, claim: Claim, exc: Exception) -> Disposition:
        """Retry later, or after the last attempt fail the report and dead-letter the message."""
        if claim.attempt >= self._max_attempts:
            what = UNREACHABLE.get(type(exc), "a service it needs")
            message = f"Gave up after {claim.attempt} attempts: {what} could not be reached."
            log.error("export.gave_up report_id=%s error=%s", claim.report_id, exc)
            try:
                self._lifecycle.fail(claim, "unavailable", message)
            except DatabaseUnavailable:
                return Disposition.RETRY  # the next delivery takes over once the lease ran out
            return Disposition.DEAD_LETTER
        log.warning(
            "export.retrying report_id=%s attempt=%d error=%s", claim.report_id, claim.attempt, exc
        )
        self._release(claim)
        return Disposition.RETRY

    def _release(self, claim: Claim) -> None:
        """Hand the report back at once, so the next delivery need not wait for the lease."""
        try:
            self._lifecycle.release(claim)
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
            query = report_type.query(claim.org, claim.parameters)
        except ValidationError as exc:
            raise PermanentFailure(
                "invalid_parameters", f"Invalid parameters: {exc.messages}"
            ) from exc

        key = self._storage.report_object_key(
            claim.org, claim.report_id, claim.attempt, export_format.extension
        )
        file_name = f"{claim.report_type}-{claim.report_id}.{export_format.extension}"
        deadline = time.monotonic() + self._max_export_seconds
        with LeaseKeeper(self._lifecycle, claim, self._progress_interval) as lease:
            uploaded, rows = self._stream_to_storage(key, export_format, query, lease, deadline)
        if not self._lifecycle.complete(
            claim, uploaded, file_name, export_format.content_type, rows
        ):
            self._not_completed(claim, uploaded)
        log.info(
            "export.completed report_id=%s rows=%d bytes=%d",
            claim.report_id,
            rows,
            uploaded.size_bytes,
        )

    def _not_completed(self, claim: Claim, uploaded: UploadedObject) -> None:
        """COMPLETE matched no row: a cancel won the race, or another worker took over."""
        state = self._lifecycle.state(claim.report_id)
        if state is not None and state.cancel_requested:
            # Cancelled must never be downloadable: the file goes, then the status is set.
            self._storage.delete(uploaded.key)
            raise CancelRequested()
        # Taken over after our lease ran out: the new holder writes the same key.
        raise ClaimLost()

    def _stream_to_storage(
        self,
        key: str,
        export_format: ExportFormat,
        query: Query,
        lease: LeaseKeeper,
        deadline: float,
    ) -> tuple[UploadedObject, int]:
        try:
            with self._storage.start_upload(key, export_format.content_type) as upload:
                for chunk in self._rows(export_format, query, lease, deadline):
                    upload.write(chunk)
                return upload.complete(), lease.rows_processed
        except StorageUnavailable:
            raise
        except StorageError as exc:
            raise PermanentFailure("storage_failed", "The file could not be stored.") from exc

    def _rows(
        self, export_format: ExportFormat, query: Query, lease: LeaseKeeper, deadline: float
    ) -> Iterator[bytes]:
        timeout_ms = max(int(self._max_export_seconds * 1000), 1)  # 0 would mean none
        with translate_errors(), self._source.connect() as connection:
            driver = connection.connection.driver_connection
            try:
                with driver.cursor() as cursor:
                    cursor.execute("SET TRANSACTION READ ONLY")
                    cursor.execute("SET LOCAL TIME ZONE 'UTC'")
                    # The connection's own statement timeout is short; this one query may
                    # take as long as an export may.
                    cursor.execute(f"SET LOCAL statement_timeout = {timeout_ms}")
                    lease.rows_total = estimate_rows(cursor, query)
                    for chunk in export_format.stream(cursor, query, lease):
                        self._check_still_wanted(lease, deadline)
                        yield chunk
            except psycopg.errors.QueryCanceled as exc:
                raise self._timed_out() from exc
            except psycopg.OperationalError:
                raise
            except psycopg.Error as exc:
                log.error("export.query_failed error=%s", exc)
                raise PermanentFailure("query_failed", "The report query failed.") from exc
            finally:
                try:
                    driver.rollback()
                except psycopg.Error:
                    pass  # a broken connection is discarded by the pool

    def _check_still_wanted(self, lease: LeaseKeeper, deadline: float) -> None:
        """Between two chunks: stop when the export is no longer this worker's to finish."""
        if lease.lost.is_set():
            raise ClaimLost()
        if lease.cancel_requested.is_set():
            raise CancelRequested()
        if self._handing_back.is_set():
            raise HandedBack()
        if time.monotonic() > deadline:
            raise self._timed_out()

    def _timed_out(self) -> PermanentFailure:
        return PermanentFailure(
            "timeout",
            f"The export took longer than the maximum of {self._max_export_seconds:g} seconds.",
        )


def estimate_rows(cursor: psycopg.Cursor, query: Query) -> int:
    """The planner's row estimate: free, and close enough for a progress bar."""
    cursor.execute(f"EXPLAIN (FORMAT JSON) {query.sql}", query.params)
    plan = cursor.fetchone()[0]
    return max(int(plan[0]["Plan"]["Plan Rows"]), 0)

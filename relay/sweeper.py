"""The periodic sweep: re-enqueue stuck reports, expire old ones, delete the rows of long
ended ones, trim the outbox, abort abandoned uploads, delete orphaned files, and keep the
store's own expiry rule in place.

Each step runs on its own: an error in one is logged and the others still run, so a fault
while expiring reports never leaves the outbox growing. No storage call runs inside a
database transaction: a slow S3 would keep the transaction open until the server's
idle-in-transaction timeout ended it, and hold its locks meanwhile. Rows are read in one
short transaction, their files deleted outside any, and the rows marked in another.
"""

from __future__ import annotations

import logging
import math
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import TextClause, text
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session, sessionmaker

from relay.stuck import StuckReports
from shared import report_counters, transitions
from shared.broker import BrokerUnavailable
from shared.config import Settings
from shared.db import DatabaseUnavailable, translate_errors
from shared.statuses import ReportStatus
from shared.storage import (
    KEY_PREFIX,
    Storage,
    StorageError,
    StorageUnavailable,
    StoredObject,
    report_attempt_of,
)
from shared.webhooks import messages as webhook_messages
from shared.webhooks.events import record_report_events

if TYPE_CHECKING:  # boto3-stubs' shape of a listed multipart upload (a development dependency)
    from mypy_boto3_s3.type_defs import MultipartUploadTypeDef as Upload

log = logging.getLogger(__name__)

BATCH = 500  # rows per transaction, so no sweep holds locks for long

# find_expired: Completed reports past their retention, in (expires_at, id) order after a
# cursor. The cursor walks one sweep past a report whose file could not be deleted, so that
# report never stands in front of the ones behind it. No lock is taken: the files are
# deleted after the transaction ends, and transitions.EXPIRE decides who expired a report:
# it matches only reports still Completed, so when two sweepers delete the same file (the
# second delete of a missing object is a no-op in S3) exactly one of them counts the report.
# Served by reports_expiring.
FIND_EXPIRED = text(
    """
    SELECT id, object_key, expires_at FROM reports
    WHERE status = 'Completed' AND expires_at <= now()
      AND expires_at >= :after_expires_at
      AND (expires_at, id) > (:after_expires_at, :after_id)
    ORDER BY expires_at, id
    LIMIT :limit
    """
)

# Before the first report: the start of find_expired's cursor.
START = (datetime(1970, 1, 1, tzinfo=UTC), uuid.UUID(int=0))

# trim_outbox: published rows are history once the retention has passed. SKIP LOCKED keeps
# two sweepers apart; a batch at a time keeps each transaction short.
TRIM_OUTBOX = text(
    """
    DELETE FROM outbox WHERE id IN (
        SELECT id FROM outbox
        WHERE published_at IS NOT NULL
          AND published_at < now() - make_interval(secs => :retention_seconds)
        LIMIT :limit
        FOR UPDATE SKIP LOCKED)
    """
)

# delete_ended: a Failed, Cancelled or Expired report's row (its Idempotency-Key with it) is
# history no one needs once REPORT_ROW_RETENTION_DAYS have passed since it ended; without
# this the table, the history's count and the admission's lookups grow for ever. Completed
# reports are never taken: their file still exists until the expiry step makes them Expired.
# A batch at a time, SKIP LOCKED to keep two sweepers apart; served by reports_ended
# (completed_at; Pending and Processing reports have none).
DELETE_ENDED = text(
    """
    DELETE FROM reports WHERE id IN (
        SELECT id FROM reports
        WHERE status IN ('Failed', 'Cancelled', 'Expired')
          AND completed_at < now() - make_interval(secs => :retention_seconds)
        LIMIT :limit
        FOR UPDATE SKIP LOCKED)
    """
)

# A step's error that says a service is away rather than a bug: logged without a traceback.
UNAVAILABLE = (DatabaseUnavailable, StorageError, BrokerUnavailable)


# The attempt that holds each of these reports now; its upload is in progress, not abandoned.
LIVE_ATTEMPTS = text(
    "SELECT id, attempts FROM reports WHERE id = ANY(:ids) AND status = 'Processing'"
)


# The orphan sweep: keys per listing page, and pages per pass. A pass does bounded work and
# the next one goes on where it stopped, so a bucket of millions of objects is walked over
# many passes instead of holding one pass (and the steps after it) for minutes.
ORPHAN_PAGE_KEYS = 1000
ORPHAN_PAGES_PER_PASS = 10

# Each report's status and recorded file, for the keys of one listing page.
REPORT_FILES = text("SELECT id, status, object_key FROM reports WHERE id = ANY(:ids)")

# The store's expiry of reports/ comes this long after the report's own retention: it is a
# backstop for what the sweep missed, never the first to delete a file still downloadable.
LIFECYCLE_MARGIN_DAYS = 1


class ReportFile(NamedTuple):
    status: ReportStatus
    object_key: str | None


def orphaned(stored: StoredObject, report: ReportFile | None, cutoff: datetime) -> bool:
    """Whether an object under the key prefix is nobody's file and may go.

    Only attempt objects (report_object_key's form) older than the cutoff are judged: an
    attempt may be uploading until its export's deadline. An object is an orphan when its
    report no longer exists, or is terminal and this is not the file it completed with (the
    file of an Expired report is past its retention too). An active report's objects are
    the worker's to handle: the next claim deletes the earlier attempts.
    """
    if report_attempt_of(stored.key) is None or stored.last_modified >= cutoff:
        return False
    if report is None:
        return True
    if not report.status.is_terminal:
        return False
    return not (report.status is ReportStatus.COMPLETED and stored.key == report.object_key)


def lifecycle_days(retention_hours: float, max_export_seconds: int) -> int:
    """Days after its creation the store deletes an object: past the longest any file is
    downloadable (an export's length, then the retention), whole days up, plus the margin."""
    seconds = retention_hours * 3600 + max_export_seconds
    return math.ceil(seconds / 86400) + LIFECYCLE_MARGIN_DAYS


def abandoned_uploads(uploads: Sequence[Upload], cutoff: datetime, prefix: str) -> list[Upload]:
    """Reportbox's uploads begun before the cutoff; younger ones may belong to an export still
    running, and those outside the key prefix belong to someone else."""
    return [u for u in uploads if u["Initiated"] < cutoff and u["Key"].startswith(prefix)]


@dataclass(frozen=True)
class SweepResult:
    expired: int = 0
    # Reports whose file S3 refused to delete: they stay Completed and are tried next round.
    expire_refused: int = 0
    outbox_deleted: int = 0
    rows_deleted: int = 0  # reports ended longer ago than REPORT_ROW_RETENTION_DAYS
    uploads_aborted: int = 0
    reenqueued: int = 0
    orphans_deleted: int = 0
    # Delivered or failed webhook messages older than REPORT_ROW_RETENTION_DAYS.
    webhook_messages_deleted: int = 0
    failed_steps: tuple[str, ...] = ()  # steps that ended in an error (logged)


class Sweeper:
    def __init__(
        self,
        settings: Settings,
        session_factory: sessionmaker[Session],
        storage: Storage,
        batch_size: int = BATCH,
        orphan_page_keys: int = ORPHAN_PAGE_KEYS,
    ) -> None:
        self._settings = settings
        self._sessions = session_factory
        self._storage = storage
        self._batch = batch_size
        self._stuck = StuckReports(settings, session_factory)
        self._stopping = threading.Event()
        self._orphan_page_keys = orphan_page_keys
        self._orphans_after: str | None = None  # where the next orphan pass goes on listing
        self._lifecycle_settled = False  # the rule is set, or the store cannot hold one

    def run_once(self) -> SweepResult:
        steps: dict[str, Callable[[], dict[str, int]]] = {
            # Stuck reports first: it needs only the database, so S3 being down cannot stop it.
            "stuck": lambda: {"reenqueued": self._stuck.run_once()},
            "expire": self._expire_reports,
            "outbox": self._trim_outbox,
            "rows": self._delete_ended_rows,
            "webhook_messages": self._delete_ended_webhook_messages,
            "uploads": self._abort_uploads,
            "orphans": self._delete_orphans,
            "lifecycle": self._keep_lifecycle_rule,
        }
        counts: dict[str, int] = {}
        failed: list[str] = []
        for name, step in steps.items():
            try:
                counts.update(step())
            except UNAVAILABLE as exc:
                failed.append(name)
                log.warning("sweep.step_failed step=%s error=%s", name, exc)
            except Exception:
                # One step's surprise must not cost the others their round.
                failed.append(name)
                log.exception("sweep.step_unexpected_error step=%s", name)
        result = SweepResult(**counts, failed_steps=tuple(failed))
        if result != SweepResult():
            log.info(
                "sweep.done expired=%d expire_refused=%d outbox_deleted=%d rows_deleted=%d "
                "uploads_aborted=%d reenqueued=%d orphans_deleted=%d webhook_messages_deleted=%d "
                "failed_steps=%s",
                result.expired,
                result.expire_refused,
                result.outbox_deleted,
                result.rows_deleted,
                result.uploads_aborted,
                result.reenqueued,
                result.orphans_deleted,
                result.webhook_messages_deleted,
                ",".join(result.failed_steps) or "none",
            )
        return result

    def run(self) -> None:
        while not self._stopping.wait(self._settings.cleanup_interval_seconds):
            try:
                self.run_once()
            except Exception:
                # run_once catches each step's errors; this is for what it cannot, so the
                # sweep thread outlives any surprise and the next round tries again.
                log.exception("sweep.unexpected_error")

    def stop(self) -> None:
        self._stopping.set()

    def _expire_reports(self) -> dict[str, int]:
        expired = refused = 0
        after_expires_at, after_id = START
        while True:
            with translate_errors(), self._sessions() as session, session.begin():
                rows = session.execute(
                    FIND_EXPIRED,
                    {
                        "after_expires_at": after_expires_at,
                        "after_id": after_id,
                        "limit": self._batch,
                    },
                ).all()
            if not rows:
                break
            after_expires_at, after_id = rows[-1].expires_at, rows[-1].id
            # The file goes first: a crash before the mark leaves a Completed report past its
            # retention (the API already answers 410), and the next round deletes again (a
            # no-op) and marks it. Never an Expired report whose file is still there.
            gone = [row.id for row in rows if self._delete_file(row)]
            refused += len(rows) - len(gone)
            if gone:
                with translate_errors(), self._sessions() as session, session.begin():
                    ended = session.execute(transitions.EXPIRE.statement, {"ids": gone}).all()
                    record_report_events(
                        session.connection(), "report.expired", [row.id for row in ended]
                    )
                expired_types = [row.report_type for row in ended]
                report_counters.count_each(report_counters.EXPIRED, expired_types)
                expired += len(expired_types)
            # Stopping between batches keeps SIGTERM prompt; the rest waits for the next round.
            if len(rows) < self._batch or self._stopping.is_set():
                break
        return {"expired": expired, "expire_refused": refused}

    def _delete_file(self, row: Row[Any]) -> bool:
        """Delete one report's file; False if S3 refused it (the others go on)."""
        if not row.object_key:
            return True
        try:
            self._storage.delete(row.object_key)
        except StorageUnavailable:
            raise  # S3 is away for every row alike: end the step, the next round retries
        except StorageError as exc:
            log.warning("sweep.expire_refused report_id=%s error=%s", row.id, exc)
            return False
        return True

    def _trim_outbox(self) -> dict[str, int]:
        retention_seconds = self._settings.outbox_retention_hours * 3600
        return {"outbox_deleted": self._delete_in_batches(TRIM_OUTBOX, retention_seconds)}

    def _delete_ended_rows(self) -> dict[str, int]:
        retention_seconds = self._settings.report_row_retention_days * 86400
        return {"rows_deleted": self._delete_in_batches(DELETE_ENDED, retention_seconds)}

    def _delete_ended_webhook_messages(self) -> dict[str, int]:
        retention_seconds = self._settings.report_row_retention_days * 86400
        deleted = self._delete_in_batches(webhook_messages.DELETE_ENDED, retention_seconds)
        return {"webhook_messages_deleted": deleted}

    def _delete_in_batches(self, statement: TextClause, retention_seconds: float) -> int:
        """Run a DELETE of at most `limit` rows, one short transaction each, until it
        deletes fewer (or the sweep is stopping); how many it deleted in all."""
        deleted = 0
        limit = self._batch * 10
        while True:
            with translate_errors(), self._sessions() as session, session.begin():
                # The session's Connection, whose result (a CursorResult) counts the rows.
                count = (
                    session.connection()
                    .execute(statement, {"retention_seconds": retention_seconds, "limit": limit})
                    .rowcount
                )
            deleted += count
            if count < limit or self._stopping.is_set():
                return deleted

    def _abort_uploads(self) -> dict[str, int]:
        # No lock between sweepers: two may list the same upload, and the second abort finds
        # it gone (abort_upload answers False, so it is counted once).
        cutoff = datetime.now(UTC) - timedelta(hours=self._settings.incomplete_upload_max_age_hours)
        uploads = abandoned_uploads(self._storage.incomplete_uploads(), cutoff, KEY_PREFIX)
        live = self._live_attempts(uploads)
        aborted = 0
        for upload in uploads:
            if report_attempt_of(upload["Key"]) in live:
                continue  # the attempt holding the report now: its export is still writing
            try:
                if self._storage.abort_upload(upload["Key"], upload["UploadId"]):
                    aborted += 1
            except StorageUnavailable:
                raise
            except StorageError as exc:
                log.warning("sweep.abort_refused key=%s error=%s", upload["Key"], exc)
        return {"uploads_aborted": aborted}

    def _live_attempts(self, uploads: Sequence[Upload]) -> set[tuple[uuid.UUID, int]]:
        """The (report, attempt) pairs among these uploads that still hold their report.

        The age cutoff alone cannot tell: some S3 mocks date every upload years back, clocks drift,
        and an export may legitimately run for as long as the cutoff allows.
        """
        named = [pair for pair in map(report_attempt_of, (u["Key"] for u in uploads)) if pair]
        if not named:
            return set()
        with translate_errors(), self._sessions() as session:
            rows = session.execute(LIVE_ATTEMPTS, {"ids": [report for report, _ in named]})
            return {(row.id, row.attempts) for row in rows}

    def _delete_orphans(self) -> dict[str, int]:
        """Delete the objects no report will ever serve, ORPHAN_PAGES_PER_PASS pages a pass.

        Some paths leave an attempt's object behind: a stale attempt whose completion raised
        or whose own delete failed, a crash after the upload followed by gave_up, a claim
        that found a cancel before it deleted the earlier attempts. Without this they would
        outlive the retention, and with them whatever personal data they hold.
        """
        cutoff = datetime.now(UTC) - timedelta(seconds=self._settings.max_export_seconds)
        deleted = 0
        for _ in range(ORPHAN_PAGES_PER_PASS):
            page = self._storage.object_page(
                KEY_PREFIX, self._orphans_after, self._orphan_page_keys
            )
            reports = self._report_files(page.objects)
            for stored in page.objects:
                pair = report_attempt_of(stored.key)
                report = reports.get(pair[0]) if pair else None
                if orphaned(stored, report, cutoff) and self._delete_orphan(stored.key):
                    deleted += 1
            self._orphans_after = page.next_after
            if page.next_after is None or self._stopping.is_set():
                break
        return {"orphans_deleted": deleted}

    def _report_files(self, objects: list[StoredObject]) -> dict[uuid.UUID, ReportFile]:
        ids = list({pair[0] for pair in map(report_attempt_of, (o.key for o in objects)) if pair})
        if not ids:
            return {}
        with translate_errors(), self._sessions() as session:
            rows = session.execute(REPORT_FILES, {"ids": ids})
            return {row.id: ReportFile(ReportStatus(row.status), row.object_key) for row in rows}

    def _delete_orphan(self, key: str) -> bool:
        try:
            self._storage.delete(key)
        except StorageUnavailable:
            raise
        except StorageError as exc:
            log.warning("sweep.orphan_refused key=%s error=%s", key, exc)
            return False
        return True

    def _keep_lifecycle_rule(self) -> dict[str, int]:
        """Once per process: the store expires reports/ on its own, should every sweep stop.

        Tried again each pass while S3 is away; a store that refuses or lacks lifecycle
        rules is logged once and left alone (the orphan sweep still runs).
        """
        if self._lifecycle_settled:
            return {}
        days = lifecycle_days(
            self._settings.report_retention_hours, self._settings.max_export_seconds
        )
        try:
            supported = self._storage.expire_under(KEY_PREFIX, days)
        except StorageUnavailable:
            raise
        except StorageError as exc:
            self._lifecycle_settled = True
            log.warning("sweep.lifecycle_refused prefix=%s error=%s", KEY_PREFIX, exc)
            return {}
        self._lifecycle_settled = True
        if supported:
            log.info("sweep.lifecycle_set prefix=%s days=%d", KEY_PREFIX, days)
        else:
            log.warning("sweep.lifecycle_unsupported prefix=%s", KEY_PREFIX)
        return {}

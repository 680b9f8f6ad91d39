"""The periodic sweep: re-enqueue stuck reports, expire old ones, trim the outbox, abort
abandoned uploads."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from relay.stuck import StuckReports
from shared import transitions
from shared.config import Settings
from shared.db import DatabaseUnavailable, translate_errors
from shared.storage import Storage, StorageError

log = logging.getLogger(__name__)

BATCH = 500  # rows per transaction, so no sweep holds locks for long

# claim_expired: Completed reports past their retention, locked until commit. A concurrent
# sweeper SKIPs LOCKED rows, so two never delete the same file. Served by reports_expiring.
CLAIM_EXPIRED = text(
    """
    SELECT id, object_key FROM reports
    WHERE status = 'Completed' AND expires_at <= now()
    ORDER BY expires_at
    LIMIT :limit
    FOR UPDATE SKIP LOCKED
    """
)


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

# One sweeper at a time lists and aborts uploads: S3 has no row to lock.
UPLOADS_LOCK = text("SELECT pg_try_advisory_xact_lock(hashtext('reportbox.sweep_uploads'))")


def abandoned_uploads(uploads: list[dict[str, Any]], cutoff: datetime) -> list[dict[str, Any]]:
    """Uploads begun before the cutoff; younger ones may belong to an export still running."""
    return [upload for upload in uploads if upload["Initiated"] < cutoff]


@dataclass(frozen=True)
class SweepResult:
    expired: int = 0
    outbox_deleted: int = 0
    uploads_aborted: int = 0
    reenqueued: int = 0


class Sweeper:
    def __init__(
        self, settings: Settings, session_factory: sessionmaker[Session], storage: Storage
    ) -> None:
        self._settings = settings
        self._sessions = session_factory
        self._storage = storage
        self._stuck = StuckReports(settings, session_factory)
        self._stopping = threading.Event()

    def run_once(self) -> SweepResult:
        # Stuck reports first: it needs only the database, so S3 being down cannot stop it.
        reenqueued = self._stuck.run_once()
        result = SweepResult(
            expired=self._expire_reports(),
            outbox_deleted=self._trim_outbox(),
            uploads_aborted=self._abort_uploads(),
            reenqueued=reenqueued,
        )
        if result != SweepResult():
            log.info(
                "sweep.done expired=%d outbox_deleted=%d uploads_aborted=%d reenqueued=%d",
                result.expired,
                result.outbox_deleted,
                result.uploads_aborted,
                result.reenqueued,
            )
        return result

    def run(self) -> None:
        while not self._stopping.wait(self._settings.cleanup_interval_seconds):
            try:
                self.run_once()
            except (DatabaseUnavailable, StorageError) as exc:
                log.warning("sweep.failed error=%s", exc)
            except Exception:
                # The sweep thread must outlive a surprise; the next round tries again.
                log.exception("sweep.unexpected_error")

    def stop(self) -> None:
        self._stopping.set()

    def _expire_reports(self) -> int:
        expired = 0
        while True:
            with translate_errors(), self._sessions() as session, session.begin():
                rows = session.execute(CLAIM_EXPIRED, {"limit": BATCH}).all()
                # The file goes first: a crash in between leaves a Completed report whose
                # object is gone (the next sweep expires it), never an Expired one with a file.
                for row in rows:
                    if row.object_key:
                        self._storage.delete(row.object_key)
                session.execute(transitions.EXPIRE.statement, {"ids": [row.id for row in rows]})
            expired += len(rows)
            if len(rows) < BATCH:
                return expired

    def _trim_outbox(self) -> int:
        deleted = 0
        retention_seconds = self._settings.outbox_retention_hours * 3600
        while True:
            with translate_errors(), self._sessions() as session, session.begin():
                count = session.execute(
                    TRIM_OUTBOX, {"retention_seconds": retention_seconds, "limit": BATCH * 10}
                ).rowcount
            deleted += count
            if count < BATCH * 10:
                return deleted

    def _abort_uploads(self) -> int:
        cutoff = datetime.now(UTC) - timedelta(hours=self._settings.incomplete_upload_max_age_hours)
        with translate_errors(), self._sessions() as session, session.begin():
            if not session.execute(UPLOADS_LOCK).scalar():
                return 0
            stale = abandoned_uploads(self._storage.incomplete_uploads(), cutoff)
            for upload in stale:
                self._storage.abort_upload(upload["Key"], upload["UploadId"])
        return len(stale)

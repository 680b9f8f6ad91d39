"""The stuck-report check: a report no message will bring to a worker any more gets a new one.

Messages can vanish outside Reportbox's control (a purged queue, a delivery dead-lettered
after too many redeliveries, a broker that lost a queue). The report row is the truth: an
active report whose last message went out long ago, and that nobody holds, is re-enqueued
through the outbox, so the relay publishes it like any other. A duplicate is harmless: the
worker's claim makes it a no-op.

Only while no message waits in the work queue: with a backlog, an old Pending report is most
likely still in line, and re-enqueueing every one of them each round would only pile up
duplicates. Once the backlog is worked off, what is still stuck gets its new message.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from shared.broker import BrokerUnavailable, messages_waiting
from shared.config import Settings
from shared.db import translate_errors
from shared.messages import ReportRequested

log = logging.getLogger(__name__)

BATCH = 500  # reports per transaction

# One relay at a time looks for stuck reports: with two, both could find the same report
# before either committed its new message, and enqueue it twice.
STUCK_LOCK = text("SELECT pg_try_advisory_xact_lock(hashtext('reportbox.stuck_reports'))")

# find_stuck: active reports that were accepted long ago, whose newest message was published
# long ago (or was trimmed from the outbox), and that nobody holds: Pending, or Processing
# under a lease that ran out long ago. A report with an unpublished message is the relay's
# to publish, not stuck. The rows stay locked until commit (a concurrent check skips them);
# the partial index reports_active_request serves the scan of active reports, and
# outbox_report the lookup of each one's messages.
FIND_STUCK = text(
    """
    SELECT r.id FROM reports AS r
    WHERE r.status IN ('Pending', 'Processing')
      AND r.created_at < now() - make_interval(secs => :stuck_after)
      AND (r.status = 'Pending'
           OR r.lease_expires_at < now() - make_interval(secs => :stuck_after))
      AND NOT EXISTS (
          SELECT 1 FROM outbox AS o
          WHERE (o.published_at IS NULL
                 OR o.published_at > now() - make_interval(secs => :stuck_after))
            AND o.report_id = r.id)
    ORDER BY r.created_at
    LIMIT :limit
    FOR UPDATE OF r SKIP LOCKED
    """
)

ENQUEUE = text(
    "INSERT INTO outbox (message_id, message_type, report_id, body) "
    "VALUES (:message_id, :type, :report_id, :body)"
)


def outbox_values(message: ReportRequested) -> dict[str, object]:
    return {
        "message_id": message.message_id,
        "type": message.TYPE,
        "report_id": message.report_id,
        "body": message.encode(),
    }


class StuckReports:
    def __init__(
        self,
        settings: Settings,
        session_factory: sessionmaker[Session],
        waiting: Callable[[], int] | None = None,
    ) -> None:
        self._stuck_after = settings.stuck_after_seconds
        self._sessions = session_factory
        self._waiting = waiting or functools.partial(messages_waiting, settings)

    def run_once(self) -> int:
        """Give every stuck report a new outbox message; return how many got one."""
        total = 0
        while True:
            messages = self._enqueue_batch()
            for message in messages:
                log.warning(
                    "stuck.reenqueued report_id=%s message_id=%s",
                    message.report_id,
                    message.message_id,
                )
            total += len(messages)
            if len(messages) < BATCH:
                return total

    def _enqueue_batch(self) -> list[ReportRequested]:
        # The broker is asked between two transactions, never inside one: a slow broker must
        # not hold the rows' locks, nor keep a transaction open until the server ends it.
        with translate_errors(), self._sessions() as session, session.begin():
            candidates = len(self._find(session))
        if not candidates or not self._queue_is_drained(candidates):
            return []
        with translate_errors(), self._sessions() as session, session.begin():
            if not session.execute(STUCK_LOCK).scalar():
                return []
            # Found again under the lock: what another check enqueued meanwhile is not stuck.
            messages = [ReportRequested.new(report_id) for report_id in self._find(session)]
            if messages:
                session.execute(ENQUEUE, [outbox_values(message) for message in messages])
        return messages

    def _find(self, session: Session) -> list[uuid.UUID]:
        return list(
            session.execute(
                FIND_STUCK, {"stuck_after": self._stuck_after, "limit": BATCH}
            ).scalars()
        )

    def _queue_is_drained(self, candidates: int) -> bool:
        try:
            waiting = self._waiting()
        except BrokerUnavailable as exc:
            log.warning("stuck.deferred candidates=%d error=%s", candidates, exc)
            return False
        if waiting:
            log.info("stuck.deferred candidates=%d waiting=%d", candidates, waiting)
        return waiting == 0

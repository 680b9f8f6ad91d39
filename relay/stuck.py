"""The stuck-report check: a report no message will bring to a worker any more gets a new one.

Messages can vanish outside Reportbox's control (a purged queue, a delivery dead-lettered
after too many redeliveries, a broker that lost a queue). The report row is the truth: an
active report whose last message went out long ago, and that nobody holds, is re-enqueued
through the outbox, so the relay publishes it like any other. A duplicate is harmless: the
worker's claim makes it a no-op.

Under a backlog, a report whose message is still in line must not be sent again, while one
whose message was lost must not wait for the backlog to clear (under steady traffic it never
does). So the decision is the report's last publish against the oldest message that can still
be waiting: the queue is FIFO, so the N messages ready in it are, at most, the N published
last, and the oldest of them went out no earlier than the N-th newest publish on record in
the outbox. A report published before that cannot be waiting; it is lost (or its copy is
parked in the retry queue, where the old rule, too, sent it again: a duplicate is harmless).

Why not read the head of the queue itself: RabbitMQ 3.10 tells a message's age only through
the management plugin, and a basic.get of the head followed by a requeue would redeliver it,
set its redelivered flag and, on a quorum queue, count against its delivery limit, on every
check. The outbox already holds every publish time, and the count of ready messages comes
from a passive queue.declare, on 3.10 and 4.x alike. Messages that are no outbox rows (retry
copies back from the retry queue, messages requeued at a worker's shutdown) only make the
count larger, and the oldest possible publish older: more cautious, never less.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from shared.broker import BrokerUnavailable, messages_waiting
from shared.config import Settings
from shared.db import translate_errors
from shared.messages import ReportRequested

log = logging.getLogger(__name__)

BATCH = 500  # reports per transaction
# How far the outbox's order of publish times may stray from the queue's order: published_at
# is the relay's transaction start, before its publishes, and relays publish side by side.
ORDER_MARGIN = timedelta(seconds=60)

# One relay at a time looks for stuck reports: with two, both could find the same report
# before either committed its new message, and enqueue it twice.
STUCK_LOCK = text("SELECT pg_try_advisory_xact_lock(hashtext('reportbox.stuck_reports'))")

# find_stuck: active reports that were accepted long ago, whose newest message was published
# before :lost_before (or was trimmed from the outbox), and that nobody holds: Pending, or
# Processing under a lease that ran out long ago. A report with an unpublished message is the
# relay's to publish, not stuck. The rows stay locked until commit (a concurrent check skips them);
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
          WHERE (o.published_at IS NULL OR o.published_at >= :lost_before)
            AND o.report_id = r.id)
    ORDER BY r.created_at
    LIMIT :limit
    FOR UPDATE OF r SKIP LOCKED
    """
)

# oldest_ready: the publish time of the :ready-th newest request published by :checked_at
# (when the ready messages were counted, or before): no message still ready in a FIFO queue
# went out earlier. None when the outbox holds fewer. A backward scan of outbox_published.
OLDEST_READY = text(
    """
    SELECT published_at FROM outbox
    WHERE published_at IS NOT NULL AND published_at <= :checked_at AND message_type = :type
    ORDER BY published_at DESC
    OFFSET :ready - 1 LIMIT 1
    """
)

ENQUEUE = text(
    "INSERT INTO outbox (message_id, message_type, report_id, body) "
    "VALUES (:message_id, :type, :report_id, :body)"
)


def lost_before(
    checked_at: datetime,
    stuck_after: timedelta,
    ready: int,
    oldest_ready_published_at: datetime | None,
) -> datetime | None:
    """The time before which a report's last publish means its message is lost; None while
    no report can be judged lost.

    An empty queue holds nothing: any publish older than `stuck_after` is lost. Otherwise a
    publish is lost only if it is also older, by ORDER_MARGIN, than the oldest publish that
    can still be waiting; when the outbox no longer knows that one (more messages wait than
    it remembers), none is.
    """
    settled = checked_at - stuck_after
    if ready == 0:
        return settled
    if oldest_ready_published_at is None:
        return None
    return min(settled, oldest_ready_published_at - ORDER_MARGIN)


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
        self._stuck_after = timedelta(seconds=settings.stuck_after_seconds)
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
        # checked_at is taken before the count, so what is published after it is left out
        # of the ranking (it can only make the oldest ready publish look older).
        with translate_errors(), self._sessions() as session, session.begin():
            checked_at = session.execute(text("SELECT now()")).scalar_one()
            candidates = len(self._find(session, checked_at - self._stuck_after))
        if not candidates:
            return []
        try:
            ready = self._waiting()
        except BrokerUnavailable as exc:
            log.warning("stuck.deferred candidates=%d error=%s", candidates, exc)
            return []
        with translate_errors(), self._sessions() as session, session.begin():
            cutoff = lost_before(
                checked_at, self._stuck_after, ready, self._oldest_ready(session, checked_at, ready)
            )
            if cutoff is None:
                log.info("stuck.deferred candidates=%d waiting=%d", candidates, ready)
                return []
            if not session.execute(STUCK_LOCK).scalar():
                return []
            # Found again under the lock: what another check enqueued meanwhile is not stuck.
            found = self._find(session, cutoff)
            messages = [ReportRequested.new(report_id) for report_id in found]
            if messages:
                session.execute(ENQUEUE, [outbox_values(message) for message in messages])
        if len(messages) < candidates:
            log.info(
                "stuck.waiting candidates=%d reenqueued=%d waiting=%d",
                candidates,
                len(messages),
                ready,
            )
        return messages

    def _find(self, session: Session, cutoff: datetime) -> list[uuid.UUID]:
        parameters = {
            "stuck_after": self._stuck_after.total_seconds(),
            "lost_before": cutoff,
            "limit": BATCH,
        }
        return list(session.execute(FIND_STUCK, parameters).scalars())

    @staticmethod
    def _oldest_ready(session: Session, checked_at: datetime, ready: int) -> datetime | None:
        if ready == 0:
            return None
        return session.execute(
            OLDEST_READY, {"checked_at": checked_at, "ready": ready, "type": ReportRequested.TYPE}
        ).scalar()

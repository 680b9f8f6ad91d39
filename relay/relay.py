"""The relay loop: publish outbox rows to RabbitMQ, woken by NOTIFY, polling as a fallback."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from relay import metrics
from shared.backoff import compute_backoff
from shared.broker import BrokerUnavailable, OutgoingMessage, Publisher
from shared.broker.publisher import Batch
from shared.config import Settings
from shared.db import DatabaseUnavailable, Listener, connect_listener, translate_errors
from shared.outbox import claim_batch, mark_published

log = logging.getLogger(__name__)

# Batches in flight at once: two keep the broker and the database busy at the same time.
PIPELINE_DEPTH = 2
# Claims in one pass at most. Each claim starts after the last, so a row whose commit came
# late (its id lower than the pass has reached) waits for the next pass, which starts from
# the beginning: under an inflow that never lets a claim come back short, this bound is
# what brings that next pass.
MAX_CLAIMS_PER_PASS = 20
# While idle, the broker connection is looked at this often, so /readyz says within seconds
# that it was lost, and the relay reconnects before it has anything to publish.
BROKER_CHECK_SECONDS = 2.0
# The longest wait between two reconnection attempts: /readyz turns ready again within about
# this long of the broker's (or the database's) return, whatever the retry backoff settings.
RECONNECT_CAP_SECONDS = 5.0


def claims_another(claimed: int, batch_size: int, claims: int, stopping: bool) -> bool:
    """Whether a pass claims again after a claim that took `claimed` rows, its `claims`-th.

    A claim short of a full batch found the outbox drained (as of its snapshot); a pass
    ends after MAX_CLAIMS_PER_PASS claims (see there) and when the relay is stopping.
    """
    return claimed == batch_size and claims < MAX_CLAIMS_PER_PASS and not stopping


class Relay:
    def __init__(
        self,
        settings: Settings,
        session_factory: sessionmaker[Session],
        publisher_factory: Callable[[Settings], Publisher] = Publisher,
        listener_factory: Callable[[Settings], Listener] = connect_listener,
        on_broker: Callable[[bool], None] = lambda connected: None,
    ) -> None:
        self._settings = settings
        self._sessions = session_factory
        self._publisher_factory = publisher_factory
        self._listener_factory = listener_factory
        self._publisher: Publisher | None = None
        self._listener: Listener | None = None
        self._stopping = threading.Event()
        self._on_broker = on_broker  # told whether the broker answers, for /readyz

    def run_once(self) -> int:
        """Publish what the outbox holds; return how many rows were marked published.

        Up to PIPELINE_DEPTH batches are in flight, each in a transaction of its own that
        keeps its rows locked: while the broker confirms one batch, the next is claimed
        (SKIP LOCKED passes over the first's rows) and sent, and the one before is marked
        published and committed. A crash anywhere leaves uncommitted rows unpublished, and
        they are sent again (consumers are idempotent). Returns once a claim comes back
        short of a full batch, after MAX_CLAIMS_PER_PASS claims, or when stop() was called.
        """
        if self._publisher is None:
            self._publisher = self._publisher_factory(self._settings)
            self._on_broker(True)
        size = self._settings.relay_batch_size
        in_flight: deque[tuple[Session, list[OutgoingMessage], Batch]] = deque()
        published = 0
        claims = 0
        more = True
        # Each claim of this pass starts after the last one's rows. A row with a lower id
        # committed meanwhile (ids are taken at insert, not at commit) waits for the next
        # pass, which starts from the beginning.
        after = 0
        try:
            with translate_errors():
                while True:
                    while more and len(in_flight) < PIPELINE_DEPTH:
                        session = self._sessions()
                        try:
                            session.begin()
                            messages = claim_batch(session, size, after)
                            batch = self._publisher.send(messages) if messages else None
                        except BaseException:
                            session.close()  # its rows must not stay locked
                            raise
                        claims += 1
                        more = claims_another(len(messages), size, claims, self._stopping.is_set())
                        if batch is None:
                            session.close()
                            break
                        after = messages[-1].outbox_id
                        in_flight.append((session, messages, batch))
                    if not in_flight:
                        return published
                    session, messages, batch = in_flight[0]  # left in until committed
                    confirmed = self._publisher.settle(batch)
                    waited = mark_published(
                        session, [m.outbox_id for m in messages if m.message_id in confirmed]
                    )
                    session.commit()
                    in_flight.popleft()
                    session.close()
                    published += len(confirmed)
                    self._report(messages, confirmed, waited)
                    if batch.unroutable:
                        # No queue is bound any more: deleted, or deleted to be re-created
                        # with other arguments. The returned rows stay unpublished;
                        # declaring the topology again gives them a queue before the next
                        # pass sends them.
                        self._publisher.declare_topology()
                        log.warning(
                            "relay.topology_declared unroutable=%d",
                            len(batch.unroutable),
                        )
                        more = False
        finally:
            for session, _, _ in in_flight:  # rolled back: their rows stay unpublished
                with contextlib.suppress(Exception):  # a lost connection is discarded anyway
                    session.close()

    def _report(
        self, messages: list[OutgoingMessage], confirmed: set[str], waited: list[float]
    ) -> None:
        for seconds in waited:
            metrics.PUBLISH_LATENCY.observe(seconds)
        metrics.CONFIRMS.inc(len(confirmed))
        metrics.UNCONFIRMED.inc(len(messages) - len(confirmed))
        if log.isEnabledFor(logging.INFO):
            for message in messages:
                if message.message_id in confirmed:
                    log.info(
                        "relay.published report_id=%s message_id=%s",
                        message.report_id,
                        message.message_id,
                    )
        if len(confirmed) < len(messages):
            log.warning("relay.unconfirmed count=%d", len(messages) - len(confirmed))

    def listen(self) -> Listener:
        """Start listening for NOTIFY; before a claim, so no commit falls between the two."""
        if self._listener is None:
            self._listener = self._listener_factory(self._settings)
        return self._listener

    def wait_for_work(self) -> None:
        """Sleep until NOTIFY says a row was written, or the poll interval passes; every
        BROKER_CHECK_SECONDS of quiet, check that the broker connection still stands."""
        listener = self.listen()
        deadline = time.monotonic() + self._settings.relay_poll_seconds
        while (remaining := deadline - time.monotonic()) > 0:
            if listener.wait(min(remaining, BROKER_CHECK_SECONDS)):
                return
            if self._publisher is not None:
                self._publisher.check_connection()

    def run(self) -> None:
        log.info("relay.started exchange=%s", self._settings.exchange)
        failures = 0
        while not self._stopping.is_set():
            try:
                self.listen()
                published = self.run_once()
                if published < self._settings.relay_batch_size:
                    self.wait_for_work()
                failures = 0
            except (BrokerUnavailable, DatabaseUnavailable) as exc:
                if isinstance(exc, BrokerUnavailable):
                    self._on_broker(False)
                failures += 1
                delay = compute_backoff(
                    failures,
                    base=min(self._settings.retry_backoff_base_seconds, RECONNECT_CAP_SECONDS),
                    cap=min(self._settings.retry_backoff_cap_seconds, RECONNECT_CAP_SECONDS),
                )
                log.warning("relay.unavailable error=%s retry_in=%.1fs", exc, delay)
                self.close()
                self._stopping.wait(delay)
        self.close()
        log.info("relay.stopped")

    def stop(self) -> None:
        self._stopping.set()

    def close(self) -> None:
        """Drop the broker and LISTEN connections; run_once() opens them again."""
        if self._publisher is not None:
            self._publisher.close()
            self._publisher = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None

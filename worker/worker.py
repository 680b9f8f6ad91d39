"""The worker process: consume report requests and build them on a thread pool."""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from shared.backoff import compute_backoff
from shared.broker import BrokerUnavailable, Consumer, Delivery
from shared.config import Settings
from shared.db import DatabaseUnavailable
from shared.logs import log_context
from shared.messages import ReportRequested, UndecodableMessage
from worker import metrics
from worker.exporter import Exporter, Outcome

log = logging.getLogger(__name__)

HAND_BACK_WAIT = 10.0  # seconds for exports to notice the hand-back and release their reports
PARK_MARGIN = 1.0  # seconds past the longest lease another worker can still hold


class Disposition(enum.Enum):
    """What to tell the broker about the message once the work is done."""

    ACK = "ack"
    RETRY = "retry"  # again after a backoff, without holding a prefetch slot
    PARK = "park"  # again once the holder's lease could have run out; no retry spent
    REQUEUE = "requeue"  # not ours to finish now (shutting down): straight back to the queue
    DEAD_LETTER = "dead-letter"


DISPOSITIONS: dict[Outcome, Disposition] = {
    Outcome.COMPLETED: Disposition.ACK,
    Outcome.CANCELLED: Disposition.ACK,
    Outcome.FAILED: Disposition.ACK,
    Outcome.SKIPPED: Disposition.ACK,
    Outcome.CLAIM_LOST: Disposition.ACK,  # the worker that took over acks its own delivery
    Outcome.HANDED_BACK: Disposition.REQUEUE,
    # A duplicate, or the redelivery of a message whose worker died: it comes back when
    # the holder's lease can no longer be live, and takes the report over or skips it.
    Outcome.HELD_ELSEWHERE: Disposition.PARK,
    Outcome.RETRY_LATER: Disposition.RETRY,
    Outcome.GAVE_UP: Disposition.DEAD_LETTER,  # kept for an operator to look at
    Outcome.UNKNOWN_REPORT: Disposition.DEAD_LETTER,
}


def park_seconds(settings: Settings) -> float:
    """How long a message waits while another worker holds its report.

    A lease runs at most WORKER_LEASE_SECONDS past its last renewal, so by then the holder
    has either renewed it (the copy is parked again: each park is bounded by the holder's
    export, so parks do not count as retries) or died (the copy takes the report over).
    The margin lets the lease's end pass on the database's clock too.
    """
    return settings.lease_seconds + PARK_MARGIN


def disposition(outcome: Outcome | None, retries: int, max_retries: int) -> Disposition:
    """The broker's part of an outcome; None is a message that does not decode.

    A message already retried max_retries times is dead-lettered rather than retried
    again: nothing can then circle forever. Its report, if still active, is found by the
    stuck-report check and gets a new message once the fault has passed.
    """
    if outcome is None:
        return Disposition.DEAD_LETTER
    decided = DISPOSITIONS[outcome]
    if decided is Disposition.RETRY and retries >= max_retries:
        return Disposition.DEAD_LETTER
    return decided


class Worker:
    """Receives on the broker's I/O thread, exports on `concurrency` threads, and acks
    through the I/O thread after the work, so heartbeats flow during long exports."""

    def __init__(
        self,
        settings: Settings,
        exporter: Exporter,
        stopping: threading.Event,
        on_broker: Callable[[bool], None] = lambda connected: None,
    ):
        self._settings = settings
        self._stopping = stopping
        self._exporter = exporter
        self._pool = ThreadPoolExecutor(settings.worker_concurrency, thread_name_prefix="export")
        self._in_flight = 0
        self._lock = threading.Lock()
        self._consumer: Consumer | None = None
        self._on_broker = on_broker  # told whether the broker answers, for /readyz
        # Retries of one message before it is dead-lettered: each claim may retry once, and
        # faults before a claim (the database down) get as many again.
        self._max_retries = settings.max_attempts * 2

    def run(self) -> None:
        log.info(
            "worker.started queue=%s concurrency=%d",
            self._settings.work_queue,
            self._settings.worker_concurrency,
        )
        failures = 0
        while not self._stopping.is_set():
            try:
                self._consumer = Consumer(
                    self._settings, self._settings.worker_concurrency, self._on_delivery
                )
                failures = 0
                self._on_broker(True)
                self._consumer.run()
            except BrokerUnavailable as exc:
                self._on_broker(False)
                failures += 1
                delay = self._backoff(failures)
                log.warning("worker.broker_unavailable error=%s retry_in=%.1fs", exc, delay)
                self._close_consumer()
                self._stopping.wait(delay)
        self._shut_down()

    def stop(self) -> None:
        self._stopping.set()
        if self._consumer is not None:
            self._consumer.stop()

    def _backoff(self, attempt: int) -> float:
        return compute_backoff(
            attempt,
            base=self._settings.retry_backoff_base_seconds,
            cap=self._settings.retry_backoff_cap_seconds,
        )

    def _on_delivery(self, delivery: Delivery) -> None:
        with self._lock:
            self._in_flight += 1
        metrics.IN_FLIGHT.inc()
        self._pool.submit(self._handle, delivery)

    def _handle(self, delivery: Delivery) -> None:
        with log_context(message_id=delivery.message_id):
            self._handle_in_context(delivery)

    def _handle_in_context(self, delivery: Delivery) -> None:
        try:
            outcome = self._outcome(delivery)
        except Exception:
            # Outside any export (decoding, claiming): retried with a backoff, a bounded
            # number of times, never requeued straight away in a loop.
            log.exception("worker.unexpected_error message_id=%s", delivery.message_id)
            outcome = Outcome.RETRY_LATER
        try:
            self._settle(delivery, disposition(outcome, delivery.retries, self._max_retries))
        except Exception:
            log.exception("worker.settle_failed message_id=%s", delivery.message_id)
        finally:
            with self._lock:
                self._in_flight -= 1
            metrics.IN_FLIGHT.dec()

    def _outcome(self, delivery: Delivery) -> Outcome | None:
        try:
            message = ReportRequested.decode(delivery.body)
        except UndecodableMessage as exc:
            log.error(
                "worker.poison_message message_id=%s error=%s body=%r",
                delivery.message_id,
                exc,
                exc.body[:200],
            )
            return None
        try:
            with log_context(report_id=message.report_id):
                return self._exporter.process(message.report_id)
        except DatabaseUnavailable as exc:
            log.warning("worker.database_unavailable report_id=%s error=%s", message.report_id, exc)
            return Outcome.RETRY_LATER

    def _settle(self, delivery: Delivery, disposition: Disposition) -> None:
        if disposition is Disposition.ACK:
            delivery.ack()
        elif disposition is Disposition.RETRY:
            metrics.RETRIES.inc()
            self._retry_later(delivery, self._backoff(delivery.retries + 1), counted=True)
        elif disposition is Disposition.PARK:
            self._retry_later(delivery, park_seconds(self._settings), counted=False)
        elif disposition is Disposition.REQUEUE:
            delivery.reject(requeue=True)
        else:
            metrics.DEAD_LETTERS.inc()
            log.error("worker.dead_lettered message_id=%s", delivery.message_id)
            delivery.reject(requeue=False)

    def _retry_later(self, delivery: Delivery, delay: float, *, counted: bool) -> None:
        """Park the message in the retry queue for `delay` seconds; this thread moves on."""
        try:
            delivery.retry_later(delay, counted=counted)
        except BrokerUnavailable as exc:
            # Not parked: straight back to the queue. If the connection is gone, that is
            # lost too, and the broker redelivers the message anyway.
            log.warning("worker.retry_failed message_id=%s error=%s", delivery.message_id, exc)
            delivery.reject(requeue=True)
            return
        log.info(
            "worker.retry_scheduled message_id=%s retry=%d delay=%.2fs counted=%s",
            delivery.message_id,
            delivery.retries + 1 if counted else delivery.retries,
            delay,
            counted,
        )

    def _shut_down(self) -> None:
        """Finish the reports in hand within the grace period, then hand back the rest:
        their claims are released and their messages requeued, so none waits for a lease."""
        if self._consumer is not None:
            self._consumer.cancel()
        self._wait_until_idle(self._settings.shutdown_grace_seconds)
        if self._in_flight:
            log.warning("worker.handing_back in_flight=%d", self._in_flight)
            self._exporter.hand_back()
            self._wait_until_idle(HAND_BACK_WAIT)
        if self._consumer is not None:
            # Turn the loop once more so the last acks reach the broker before closing.
            self._consumer.drain(until=lambda: False, timeout=0.2)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._close_consumer()
        log.info("worker.stopped in_flight=%d", self._in_flight)

    def _idle(self) -> bool:
        return self._in_flight == 0

    def _wait_until_idle(self, timeout: float) -> None:
        if self._consumer is not None:
            self._consumer.drain(until=self._idle, timeout=timeout)
            return
        # The broker is gone: no acks to send, and the broker redelivers what is in hand.
        deadline = time.monotonic() + timeout
        while not self._idle() and time.monotonic() < deadline:
            time.sleep(0.1)

    def _close_consumer(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None

"""The worker process: consume report requests and build them on a thread pool."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from shared.backoff import compute_backoff
from shared.broker import BrokerUnavailable, Consumer, Delivery
from shared.config import Settings
from shared.db import DatabaseUnavailable
from shared.messages import ReportRequested, UndecodableMessage
from worker.exporter import Disposition, Exporter

log = logging.getLogger(__name__)

SHUTDOWN_GRACE = 30.0  # seconds to finish reports in hand after SIGTERM


class Worker:
    """Receives on the broker's I/O thread, exports on `concurrency` threads, and acks
    through the I/O thread after the work, so heartbeats flow during long exports."""

    def __init__(self, settings: Settings, exporter: Exporter, stopping: threading.Event):
        self._settings = settings
        self._stopping = stopping
        self._exporter = exporter
        self._pool = ThreadPoolExecutor(settings.worker_concurrency, thread_name_prefix="export")
        self._in_flight = 0
        self._lock = threading.Lock()
        self._consumer: Consumer | None = None

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
                self._consumer.run()
            except BrokerUnavailable as exc:
                failures += 1
                delay = compute_backoff(failures)
                log.warning("worker.broker_unavailable error=%s retry_in=%.1fs", exc, delay)
                self._close_consumer()
                self._stopping.wait(delay)
        self._shut_down()

    def stop(self) -> None:
        self._stopping.set()
        if self._consumer is not None:
            self._consumer.stop()

    def _on_delivery(self, delivery: Delivery) -> None:
        with self._lock:
            self._in_flight += 1
        self._pool.submit(self._handle, delivery)

    def _handle(self, delivery: Delivery) -> None:
        try:
            disposition = self._dispose(delivery)
            if disposition is Disposition.ACK:
                delivery.ack()
            else:
                delivery.reject(requeue=disposition is Disposition.REQUEUE)
        except Exception:
            log.exception("worker.unexpected_error message_id=%s", delivery.message_id)
            delivery.reject(requeue=True)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _dispose(self, delivery: Delivery) -> Disposition:
        try:
            message = ReportRequested.decode(delivery.body)
        except UndecodableMessage as exc:
            log.error(
                "worker.poison_message message_id=%s error=%s body=%r",
                delivery.message_id,
                exc,
                exc.body[:200],
            )
            return Disposition.DEAD_LETTER
        try:
            return self._exporter.process(message.report_id)
        except DatabaseUnavailable as exc:
            log.warning("worker.database_unavailable report_id=%s error=%s", message.report_id, exc)
            self._stopping.wait(compute_backoff(1, base=2.0))
            return Disposition.REQUEUE

    def _shut_down(self) -> None:
        consumer = self._consumer
        if consumer is not None:
            consumer.cancel()
            consumer.drain(until=lambda: self._in_flight == 0, timeout=SHUTDOWN_GRACE)
            # Turn the loop once more so the last acks reach the broker before closing.
            consumer.drain(until=lambda: False, timeout=0.2)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._close_consumer()
        log.info("worker.stopped in_flight=%d", self._in_flight)

    def _close_consumer(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None

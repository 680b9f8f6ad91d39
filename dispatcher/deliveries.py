"""The dispatcher's second loop: claims due deliveries (email, s3, sftp) and sends each on a
thread of its own pool.

Apart from the webhooks' loop and pool (dispatcher/dispatcher.py), so a slow mail server or
SFTP host holds a delivery thread, never a webhook's, and never an export slot (the worker
does not send). DELIVERY_CONCURRENCY threads; a NOTIFY from the deliveries' trigger wakes it
when a run completes or a retry is asked for; retries wake it by their due time. The row is
recorded (acked) only after the kind's send returns or raises.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any, BinaryIO

from prometheus_client import Counter
from sqlalchemy import Engine

from shared.backoff import compute_backoff
from shared.catalog import get_report_type
from shared.config import Settings
from shared.db import DatabaseUnavailable, Listener, connect_listener, translate_errors
from shared.definitions.periods import run_day
from shared.definitions.runs import definition_zone
from shared.deliveries import rows
from shared.deliveries.decisions import AttemptResult, DeliveryStatus, after_attempt
from shared.deliveries.kinds import KINDS
from shared.deliveries.schedule import parse_schedule
from shared.deliveries.targets import (
    DeliveredFile,
    DeliveryFailed,
    Kind,
    PermanentDeliveryFailure,
)
from shared.secrets import SecretsUnavailable, unseal

log = logging.getLogger(__name__)

# How long a claim is held: the longest a send may take before another dispatcher may take
# the delivery over (and send it again).
LEASE_SECONDS = 900.0
BUSY_WAIT = 0.25

ATTEMPTS = Counter(
    "reportbox_delivery_attempts", "Delivery attempts by kind and outcome.", ["kind", "outcome"]
)

Opener = Callable[[str], AbstractContextManager[BinaryIO]]


def report_url(base_url: str | None, report_id: Any) -> str:
    """The report in the web page (its history filtered to it)."""
    return f"{(base_url or 'http://localhost:8000').rstrip('/')}/?id={report_id}"


def delivered_file(row: Any, settings: Settings, bucket: str, opener: Opener) -> DeliveredFile:
    """The run as a kind sees it, from the leased row."""
    zone = definition_zone(row.schedule_timezone, row.parameters or {})
    instant = row.scheduled_for or row.completed_at or row.created_at
    period = None
    report_type = get_report_type(row.report_type)
    if report_type is not None and report_type.range_fields:
        first, last = ((row.parameters or {}).get(name) for name in report_type.range_fields)
        if first and last:
            period = f"{first} to {last}"
    key = row.object_key
    return DeliveredFile(
        report_id=str(row.report_id),
        definition_id=str(row.definition_id),
        definition_name=row.definition_name,
        file_name=row.file_name or "report",
        content_type=row.content_type or "application/octet-stream",
        size_bytes=row.size_bytes or 0,
        rows=row.row_count or 0,
        sha256=row.sha256 or "",
        scheduled_date=run_day(instant, zone).isoformat(),
        period=period,
        report_url=report_url(settings.public_base_url, row.report_id),
        object_key=key,
        bucket=bucket,
        completed_at=row.completed_at,
        open=lambda: opener(key),
    )


class DeliveryLoop:
    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        bucket: str,
        opener: Opener,
        kinds: Mapping[str, Kind] = KINDS,
        listener_factory: Callable[[Settings, str], Listener] = connect_listener,
    ) -> None:
        self._settings = settings
        self._engine = engine
        self._bucket = bucket
        self._opener = opener
        self._kinds = kinds
        self._listener_factory = listener_factory
        self._listener: Listener | None = None
        self._max_attempts = settings.delivery_max_attempts
        self._schedule = parse_schedule(settings.delivery_retry_schedule, self._max_attempts)
        self._concurrency = settings.delivery_concurrency
        self._pool = ThreadPoolExecutor(self._concurrency, "delivery")
        self._lock = threading.Lock()
        self._in_flight = 0
        self._stopping = threading.Event()

    def free_threads(self) -> int:
        with self._lock:
            return self._concurrency - self._in_flight

    def run_once(self) -> list[Future[None]]:
        """Claim as many due deliveries as there are free threads, and send each."""
        free = self.free_threads()
        if free <= 0:
            return []
        with translate_errors(), self._engine.begin() as connection:
            ids = [row.id for row in connection.execute(rows.CLAIM_DUE, {"limit": free})]
            if not ids:
                return []
            claimed = connection.execute(
                rows.LEASE, {"ids": ids, "lease_seconds": LEASE_SECONDS}
            ).all()
        futures = []
        for delivery in claimed:
            with self._lock:
                self._in_flight += 1
            futures.append(self._pool.submit(self._deliver, delivery))
        return futures

    def _deliver(self, delivery: Any) -> None:
        try:
            result, error = self._attempt(delivery)
            next_state = after_attempt(
                result,
                error,
                delivery.attempts - delivery.attempts_before_retry,
                self._max_attempts,
                self._schedule,
                datetime.now(UTC),
            )
            self._record(delivery, next_state)
        except DatabaseUnavailable as exc:
            # Sent but not recorded: the lease runs out and it is sent again (at least once).
            log.warning("delivery.record_failed delivery_id=%s error=%s", delivery.id, exc)
        except Exception:
            log.exception("delivery.attempt_crashed delivery_id=%s", delivery.id)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _attempt(self, delivery: Any) -> tuple[AttemptResult, str | None]:
        """One send; its result and the readable error. Never logs the target (secrets)."""
        kind = self._kinds.get(delivery.kind)
        try:
            if kind is None:
                raise PermanentDeliveryFailure(f"No {delivery.kind!r} kind in this dispatcher.")
            if delivery.report_status != "Completed" or not delivery.object_key:
                raise PermanentDeliveryFailure(
                    f"The report is {delivery.report_status}: its file is no longer there."
                )
            try:
                key = self._settings.delivery_secrets_key
                target = unseal(delivery.target, kind.secret_fields, key)
            except SecretsUnavailable as exc:
                raise PermanentDeliveryFailure(f"Unreadable secrets: {exc}.") from None
            kind.send(target, delivered_file(delivery, self._settings, self._bucket, self._opener))
            result, error = AttemptResult.DELIVERED, None
        except PermanentDeliveryFailure as exc:
            result, error = AttemptResult.PERMANENT, exc.message
        except DeliveryFailed as exc:
            result, error = AttemptResult.TRANSIENT, exc.message
        ATTEMPTS.labels(delivery.kind, result.value).inc()
        log.info(
            "delivery.attempt delivery_id=%s report_id=%s kind=%s attempt=%d outcome=%s%s",
            delivery.id,
            delivery.report_id,
            delivery.kind,
            delivery.attempts,
            result.value,
            f" error={error}" if error else "",
        )
        return result, error

    def _record(self, delivery: Any, next_state: Any) -> None:
        with translate_errors(), self._engine.begin() as connection:
            written = connection.execute(
                rows.RECORD,
                {
                    "id": delivery.id,
                    "attempts": delivery.attempts,
                    "status": next_state.status.value,
                    "next_attempt_at": next_state.next_attempt_at,
                    "error": next_state.last_error,
                },
            ).scalar()
        # Pending although the attempt ended: a retry was asked meanwhile, and comes next.
        if written == DeliveryStatus.FAILED.value:
            log.warning("delivery.failed delivery_id=%s kind=%s", delivery.id, delivery.kind)

    # The loop.

    def seconds_until_due(self) -> float:
        poll = self._settings.dispatcher_poll_seconds
        with translate_errors(), self._engine.connect() as connection:
            row = connection.execute(rows.NEXT_DUE_IN).first()
        if row is None or row.seconds is None:
            return poll
        return min(max(float(row.seconds), 0.0), poll)

    def run(self) -> None:
        log.info("delivery.started concurrency=%d", self._concurrency)
        failures = 0
        while not self._stopping.is_set():
            try:
                # Listen before the claim, so a delivery written during it wakes the wait.
                if self._listener is None:
                    self._listener = self._listener_factory(self._settings, rows.CHANNEL)
                claimed = len(self.run_once())
                busy = self.free_threads() < self._concurrency
                seconds = BUSY_WAIT if busy or claimed else self.seconds_until_due()
                if seconds > 0:
                    self._listener.wait(seconds)
                failures = 0
            except DatabaseUnavailable as exc:
                failures += 1
                delay = compute_backoff(
                    failures,
                    base=self._settings.retry_backoff_base_seconds,
                    cap=self._settings.retry_backoff_cap_seconds,
                )
                log.warning("delivery.unavailable error=%s retry_in=%.1fs", exc, delay)
                self.close_listener()
                self._stopping.wait(delay)
        self._pool.shutdown(wait=True)
        self.close_listener()
        log.info("delivery.stopped")

    def stop(self) -> None:
        self._stopping.set()

    def close_listener(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None

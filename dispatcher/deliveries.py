"""The dispatcher's second loop: claims due deliveries (email, s3, sftp) and sends each on a
thread of its own pool.

Apart from the webhooks' loop and pool (dispatcher/dispatcher.py), so a slow mail server or
SFTP host holds a delivery thread, never a webhook's, and never an export slot (the worker
does not send). DELIVERY_CONCURRENCY threads; a finishing send wakes the claim at once
(dispatcher/loop.py), a NOTIFY from the deliveries' trigger wakes it when a run completes or
a retry is asked for, and retries wake it by their due time. The row is recorded (acked)
only after the kind's send returns or raises.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any, BinaryIO

from prometheus_client import Counter
from sqlalchemy import Engine

from dispatcher.loop import ClaimLoop
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


class DeliveryLoop(ClaimLoop):
    name = "delivery"

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        bucket: str,
        opener: Opener,
        kinds: Mapping[str, Kind] = KINDS,
        listener_factory: Callable[[Settings, str], Listener] = connect_listener,
    ) -> None:
        super().__init__(
            settings,
            engine,
            settings.delivery_concurrency,
            rows.CHANNEL,
            rows.NEXT_DUE_IN,
            listener_factory,
        )
        self._bucket = bucket
        self._opener = opener
        self._kinds = kinds
        self._max_attempts = settings.delivery_max_attempts
        self._schedule = parse_schedule(settings.delivery_retry_schedule, self._max_attempts)

    def claim(self, free: int) -> Sequence[Any]:
        """As many due deliveries as there are free threads, leased."""
        with translate_errors(), self._engine.begin() as connection:
            ids = [row.id for row in connection.execute(rows.CLAIM_DUE, {"limit": free})]
            if not ids:
                return []
            return connection.execute(
                rows.LEASE, {"ids": ids, "lease_seconds": LEASE_SECONDS}
            ).all()

    def send(self, delivery: Any) -> None:
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

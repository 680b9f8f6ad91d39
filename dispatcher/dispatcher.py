"""The dispatcher loop: claims due webhook messages and sends each on a thread of its own.

A process of its own (DESIGN.md sections 6, 9 and 10), so a slow receiver never holds an
export slot. Its concurrency is DISPATCHER_CONCURRENCY threads, and each endpoint has at
most one message in flight (shared/webhooks/messages.py CLAIM_DUE): a receiver that takes
the whole timeout holds one thread, and every other endpoint is served by the rest. A NOTIFY
from the messages' trigger wakes it for a new event; retries wake it by their due time.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import Counter
from sqlalchemy import Engine

from dispatcher.sender import Sender
from shared.backoff import compute_backoff
from shared.config import Settings
from shared.db import DatabaseUnavailable, Listener, connect_listener, translate_errors
from shared.webhooks import endpoints, messages
from shared.webhooks.outcomes import Attempt, MessageStatus, Outcome, decide
from shared.webhooks.payload import (
    DEFINITION_EVENTS,
    REPORT_EVENTS,
    definition_data,
    encode_body,
    report_data,
)
from shared.webhooks.retry import parse_schedule
from shared.webhooks.signing import signature_header, signing_secrets

log = logging.getLogger(__name__)

USER_AGENT = "Reportbox-Webhooks/1"
SCAN_FACTOR = 4  # rows looked at per free thread: several may belong to one endpoint
BUSY_WAIT = 0.25  # seconds between claims while threads are busy (a finished one frees a slot)

ATTEMPTS = Counter("reportbox_webhook_attempts", "Webhook attempts by their outcome.", ["outcome"])

# (download URL, when it expires) for a Completed report's snapshot, presigned at send time.
Presigner = Callable[[dict[str, Any]], tuple[str, str] | None]


class Dispatcher:
    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        sender: Sender,
        presign: Presigner | None = None,
        listener_factory: Callable[[Settings, str], Listener] = connect_listener,
    ) -> None:
        self._settings = settings
        self._engine = engine
        self._sender = sender
        self._presign = presign
        self._listener_factory = listener_factory
        self._listener: Listener | None = None
        self._schedule = parse_schedule(settings.webhook_retry_schedule)
        self._lease_seconds = settings.webhook_timeout_seconds + messages.LEASE_MARGIN
        self._pool = ThreadPoolExecutor(settings.dispatcher_concurrency, "webhook")
        self._lock = threading.Lock()
        self._busy: set[uuid.UUID] = set()  # endpoints with a message in flight here
        self._stopping = threading.Event()

    # Claiming.

    def free_threads(self) -> int:
        with self._lock:
            return self._settings.dispatcher_concurrency - len(self._busy)

    def run_once(self) -> list[Future[None]]:
        """Claim what is due (one message per endpoint, as many as free threads) and send it."""
        free = self.free_threads()
        if free <= 0:
            return []
        with self._lock:
            busy = list(self._busy)
        with translate_errors(), self._engine.begin() as connection:
            due = connection.execute(
                messages.CLAIM_DUE, {"busy": busy, "limit": free * SCAN_FACTOR}
            ).all()
            chosen: dict[uuid.UUID, uuid.UUID] = {}
            for row in due:
                if len(chosen) < free:
                    chosen.setdefault(row.endpoint_id, row.id)
            if not chosen:
                return []
            claimed = connection.execute(
                messages.LEASE,
                {"ids": list(chosen.values()), "lease_seconds": self._lease_seconds},
            ).all()
        futures = []
        for message in claimed:
            with self._lock:
                self._busy.add(message.endpoint_id)
            futures.append(self._pool.submit(self._deliver, message))
        return futures

    # Sending.

    def _deliver(self, message: Any) -> None:
        try:
            attempt = self._attempt(message)
            outcome = decide(
                attempt,
                message.attempts,
                message.failing_since,
                datetime.now(UTC),
                self._schedule,
                self._settings.webhook_disable_after_seconds,
            )
            self._record(message, attempt, outcome)
        except DatabaseUnavailable as exc:
            # The attempt was made but not recorded: the lease runs out and it is made again
            # (at least once; the receiver drops the duplicate by its webhook-id).
            log.warning("dispatcher.record_failed message_id=%s error=%s", message.id, exc)
        except Exception:
            # The lease runs out and another claim tries again; this thread lives on.
            log.exception("dispatcher.attempt_crashed message_id=%s", message.id)
        finally:
            with self._lock:
                self._busy.discard(message.endpoint_id)

    def _attempt(self, message: Any) -> Attempt:
        webhook_id = str(message.id)  # the same on every attempt of the message
        sent_at = datetime.now(UTC)
        body = self.body(message).encode()
        secrets = signing_secrets(message, self._settings.delivery_secrets_key)
        headers = {
            "webhook-id": webhook_id,
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": signature_header(secrets, webhook_id, sent_at, body.decode()),
            "content-type": "application/json",
            "user-agent": USER_AGENT,
        }
        attempt = self._sender.post(message.url, headers, body)
        ATTEMPTS.labels("delivered" if attempt.succeeded else "failed").inc()
        log.info(
            "dispatcher.attempt message_id=%s endpoint_id=%s event=%s attempt=%d status=%s%s",
            message.id,
            message.endpoint_id,
            message.event_type,
            message.attempts,
            attempt.status_code,
            f" error={attempt.error}" if attempt.error else "",
        )
        return attempt

    def body(self, message: Any) -> str:
        """The event's JSON body; a download URL is presigned now, never stored."""
        snapshot = message.snapshot
        if message.event_type in REPORT_EVENTS:
            download = None
            if message.include_download_url and snapshot.get("status") == "Completed":
                download = self._presign(snapshot) if self._presign else None
            data = report_data(snapshot, self._status_url(snapshot["id"]), download)
        elif message.event_type in DEFINITION_EVENTS:
            data = definition_data(snapshot)
        else:
            data = dict(snapshot)
        return encode_body(message.event_type, message.occurred_at, data)

    def _status_url(self, report_id: str) -> str:
        base = (self._settings.public_base_url or "").rstrip("/")
        return f"{base}/api/v1/reports/{report_id}"

    def _record(self, message: Any, attempt: Attempt, outcome: Outcome) -> None:
        with translate_errors(), self._engine.begin() as connection:
            recorded = connection.execute(
                messages.RECORD,
                {
                    "id": message.id,
                    "attempts": message.attempts,
                    "state": outcome.status.value,
                    "next_attempt_at": outcome.next_attempt_at,
                    "status_code": attempt.status_code,
                    "error": outcome.last_error,
                },
            )
            if recorded.rowcount != 1:
                return  # taken over after the lease ran out, or disabled meanwhile
            connection.execute(
                messages.SET_FAILING_SINCE,
                {"id": message.endpoint_id, "failing_since": outcome.failing_since},
            )
            if outcome.disable_endpoint:
                connection.execute(
                    endpoints.DISABLE,
                    {"id": message.endpoint_id, "reason": outcome.disabled_reason},
                )
        if outcome.disable_endpoint:
            log.warning(
                "dispatcher.endpoint_disabled endpoint_id=%s reason=%s",
                message.endpoint_id,
                outcome.disabled_reason,
            )
        elif outcome.status is MessageStatus.FAILED:
            log.warning("dispatcher.message_failed message_id=%s", message.id)

    # The loop.

    def seconds_until_due(self) -> float:
        poll = self._settings.dispatcher_poll_seconds
        with translate_errors(), self._engine.connect() as connection:
            row = connection.execute(messages.NEXT_DUE_IN).first()
        if row is None or row.seconds is None:
            return poll
        return min(max(float(row.seconds), 0.0), poll)

    def wait(self, claimed: int) -> None:
        """Sleep until a message is written or comes due, or a busy thread may have freed."""
        if self._listener is None:
            self._listener = self._listener_factory(self._settings, messages.CHANNEL)
        if self.free_threads() < self._settings.dispatcher_concurrency or claimed:
            seconds = BUSY_WAIT
        else:
            seconds = self.seconds_until_due()
        if seconds > 0:
            self._listener.wait(seconds)

    def run(self) -> None:
        log.info(
            "dispatcher.started concurrency=%d timeout=%.0fs",
            self._settings.dispatcher_concurrency,
            self._settings.webhook_timeout_seconds,
        )
        failures = 0
        while not self._stopping.is_set():
            try:
                # Listen before the claim, so a message written during it wakes the wait.
                if self._listener is None:
                    self._listener = self._listener_factory(self._settings, messages.CHANNEL)
                claimed = len(self.run_once())
                self.wait(claimed)
                failures = 0
            except DatabaseUnavailable as exc:
                failures += 1
                delay = compute_backoff(
                    failures,
                    base=self._settings.retry_backoff_base_seconds,
                    cap=self._settings.retry_backoff_cap_seconds,
                )
                log.warning("dispatcher.unavailable error=%s retry_in=%.1fs", exc, delay)
                self.close_listener()
                self._stopping.wait(delay)
        # The attempts in hand finish (each at most the timeout) and are recorded.
        self._pool.shutdown(wait=True)
        self.close_listener()
        log.info("dispatcher.stopped")

    def stop(self) -> None:
        self._stopping.set()

    def close_listener(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None


def presigner(storage: Any, ttl_seconds: int) -> Presigner:
    """Presign a Completed report's file for `ttl_seconds` from now."""

    def presign(snapshot: dict[str, Any]) -> tuple[str, str] | None:
        if not snapshot.get("object_key"):
            return None
        url = storage.presign_download(
            snapshot["object_key"],
            snapshot.get("file_name") or "report",
            snapshot.get("content_type") or "application/octet-stream",
            ttl_seconds,
        )
        expires = datetime.now(UTC) + timedelta(seconds=ttl_seconds)
        return url, expires.isoformat()

    return presign

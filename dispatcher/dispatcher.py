"""The dispatcher loop: claims due webhook messages and sends each on a thread of its own.

A process of its own (DESIGN.md sections 6, 9 and 10), so a slow receiver never holds an
export slot. Its concurrency is DISPATCHER_CONCURRENCY threads, and each endpoint has at
most WEBHOOK_ENDPOINT_CONCURRENCY messages in flight across every dispatcher (always fewer
than the threads; shared/webhooks/claims.py): a receiver that takes the whole timeout holds
that many threads, and every other endpoint is served by the rest. A finishing attempt wakes
the claim at once (dispatcher/loop.py); a NOTIFY from the messages' trigger wakes it for a
new event; retries wake it by their due time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import Counter, Histogram
from sqlalchemy import Engine

from dispatcher.group_commit import GroupCommit
from dispatcher.loop import ClaimLoop
from dispatcher.sender import Sender
from shared.config import Settings
from shared.db import DatabaseUnavailable, Listener, connect_listener, translate_errors
from shared.secrets import SecretsUnavailable
from shared.webhooks import endpoints, messages
from shared.webhooks.claims import Candidate, choose, endpoint_limit
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

ATTEMPTS = Counter("reportbox_webhook_attempts", "Webhook attempts by their outcome.", ["outcome"])
LATENCY = Histogram(
    "reportbox_webhook_delivery_seconds",
    "From an event (the status change that caused it) to its receiver's 2xx, retries included.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 60, 300, 1800, 7200, 36000, 86400, 432000),
)
DISABLED = Counter(
    "reportbox_webhook_endpoints_disabled",
    "Endpoints the dispatcher disabled: 'gone' for a 410, 'failing' after days of failures.",
    ["why"],
)

# (download URL, when it expires) for a Completed report's snapshot, presigned at send time.
Presigner = Callable[[dict[str, Any]], tuple[str, str] | None]


class Dispatcher(ClaimLoop):
    name = "dispatcher"

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        sender: Sender,
        presign: Presigner | None = None,
        listener_factory: Callable[[Settings, str], Listener] = connect_listener,
    ) -> None:
        super().__init__(
            settings,
            engine,
            settings.dispatcher_concurrency,
            messages.CHANNEL,
            messages.NEXT_DUE_IN,
            listener_factory,
        )
        self._sender = sender
        self._presign = presign
        self._schedule = parse_schedule(settings.webhook_retry_schedule)
        self._lease_seconds = settings.webhook_timeout_seconds + messages.LEASE_MARGIN
        # Not a bound method: no cycle, so a dropped dispatcher closes its sockets at once.
        self._delivered = GroupCommit(delivered_recorder(engine))
        self.endpoint_limit = endpoint_limit(
            settings.webhook_endpoint_concurrency, settings.dispatcher_concurrency
        )

    # Claiming.

    def claim(self, free: int) -> Sequence[Any]:
        """The oldest due messages, as many as `free`, none past its endpoint's limit."""
        with translate_errors(), self._engine.begin() as connection:
            connection.execute(messages.CLAIM_LOCK)
            due = connection.execute(
                messages.CLAIM_DUE,
                {"endpoint_limit": self.endpoint_limit, "limit": free * SCAN_FACTOR},
            ).all()
            candidates = [Candidate(row.id, row.endpoint_id, row.flying) for row in due]
            chosen = choose(candidates, free, self.endpoint_limit)
            if not chosen:
                return []
            return connection.execute(
                messages.LEASE, {"ids": chosen, "lease_seconds": self._lease_seconds}
            ).all()

    def close(self) -> None:
        self._sender.close()

    # Sending.

    def send(self, message: Any) -> None:
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
            if outcome.status is MessageStatus.DELIVERED:
                self._delivered.record((message, attempt))
                LATENCY.observe(max((datetime.now(UTC) - message.occurred_at).total_seconds(), 0))
            else:
                self._record(message, attempt, outcome)
        except DatabaseUnavailable as exc:
            # The attempt was made but not recorded: the lease runs out and it is made again
            # (at least once; the receiver drops the duplicate by its webhook-id).
            log.warning("dispatcher.record_failed message_id=%s error=%s", message.id, exc)
        except Exception:
            # The lease runs out and another claim tries again; this thread lives on.
            log.exception("dispatcher.attempt_crashed message_id=%s", message.id)

    def _attempt(self, message: Any) -> Attempt:
        webhook_id = str(message.id)  # the same on every attempt of the message
        sent_at = datetime.now(UTC)
        body = self.body(message).encode()
        try:
            secrets = signing_secrets(message, self._settings.delivery_secrets_key)
        except SecretsUnavailable as exc:
            # Never sent unsigned. A failed attempt, not a crash: it shows in the endpoint's
            # messages and follows the retry schedule (a crash would be leased again and
            # again, for ever); a dispatcher given the right key sends it on a retry.
            log.error("dispatcher.not_signed message_id=%s error=%s", message.id, exc)
            attempt = Attempt(None, f"not sent: {exc}")
        else:
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
        """The attempt's outcome, in one transaction that takes the endpoint's row before the
        message's (the order the API's disable takes them in), so attempts of one endpoint
        recorded at once never deadlock; nothing if the attempt was taken over meanwhile."""
        values = {"id": message.endpoint_id, "failing_since": outcome.failing_since}
        with translate_errors(), self._engine.connect() as connection, connection.begin() as tx:
            if outcome.disable_endpoint:
                connection.execute(messages.LOCK_ENDPOINT, values)
            connection.execute(messages.SET_FAILING_SINCE, values)
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
                tx.rollback()  # taken over after the lease ran out, or disabled meanwhile
                return
            if outcome.disable_endpoint:
                connection.execute(
                    endpoints.DISABLE,
                    {"id": message.endpoint_id, "reason": outcome.disabled_reason},
                )
        if outcome.disable_endpoint:
            DISABLED.labels("gone" if attempt.status_code == 410 else "failing").inc()
            log.warning(
                "dispatcher.endpoint_disabled endpoint_id=%s reason=%s",
                message.endpoint_id,
                outcome.disabled_reason,
            )
        elif outcome.status is MessageStatus.FAILED:
            log.warning("dispatcher.message_failed message_id=%s", message.id)


def delivered_recorder(engine: Engine) -> Callable[[Sequence[tuple[Any, Attempt]]], None]:
    """Delivered attempts, recorded together (the common case under load): one transaction
    whatever their number, fenced like RECORD."""

    def record(delivered: Sequence[tuple[Any, Attempt]]) -> None:
        endpoint_ids = sorted({message.endpoint_id for message, _ in delivered})
        with translate_errors(), engine.begin() as connection:
            connection.execute(messages.CLEAR_FAILING, {"ids": endpoint_ids})
            connection.execute(
                messages.RECORD_DELIVERED,
                {
                    "ids": [message.id for message, _ in delivered],
                    "attempts": [message.attempts for message, _ in delivered],
                    "status_codes": [attempt.status_code for _, attempt in delivered],
                },
            )

    return record


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

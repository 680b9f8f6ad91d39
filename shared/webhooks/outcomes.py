"""What one attempt's answer means for its message and its endpoint: pure."""

from __future__ import annotations

import enum
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.webhooks.retry import retry_delay

GONE = 410  # the receiver says the endpoint is gone for good: disabled at once


class MessageStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True)
class Attempt:
    """One attempt's answer: a status code, or an error before any status came back."""

    status_code: int | None
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    def describe(self) -> str | None:
        if self.error is not None:
            return self.error
        if self.succeeded or self.status_code is None:
            return None
        if 300 <= self.status_code < 400:
            return f"HTTP {self.status_code}: redirects are not followed"
        return f"HTTP {self.status_code}"


@dataclass(frozen=True)
class Outcome:
    status: MessageStatus
    next_attempt_at: datetime | None  # pending only
    disable_endpoint: bool
    failing_since: datetime | None  # the endpoint's, after this attempt (None: not failing)
    last_error: str | None
    disabled_reason: str | None = None


def decide(
    attempt: Attempt,
    attempts: int,
    failing_since: datetime | None,
    now: datetime,
    schedule: Sequence[float],
    disable_after_seconds: float,
    uniform: Callable[[float, float], float] = random.uniform,
) -> Outcome:
    """The message's new status after its `attempts`-th attempt, and whether to disable.

    2xx delivers and clears the endpoint's failing streak. 410 fails the message and disables
    the endpoint. Any other answer (3xx included) or error is a failure: the message waits
    for its next attempt on the jittered schedule, or fails when the schedule is spent; the
    endpoint is disabled once it has known nothing but failures for disable_after_seconds.
    """
    if attempt.succeeded:
        return Outcome(MessageStatus.DELIVERED, None, False, None, None)
    error = attempt.describe()
    since = failing_since or now
    if attempt.status_code == GONE:
        return Outcome(
            MessageStatus.FAILED, None, True, since, error, "The endpoint answered 410 Gone."
        )
    if (now - since).total_seconds() >= disable_after_seconds:
        reason = f"Nothing but failures for {disable_after_seconds:g} seconds."
        return Outcome(MessageStatus.FAILED, None, True, since, error, reason)
    delay = retry_delay(attempts, schedule, uniform)
    if delay is None:
        return Outcome(MessageStatus.FAILED, None, False, since, error)
    return Outcome(MessageStatus.PENDING, now + timedelta(seconds=delay), False, since, error)

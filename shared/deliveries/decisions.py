"""What happens to a run's deliveries, and to a delivery after an attempt: pure.

`initial_status` applies the definition's sendWhen when the run completes; `after_attempt`
turns an attempt's outcome into the delivery's next state.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.deliveries.schedule import retry_delay

MAX_ERROR_LENGTH = 1000


class DeliveryStatus(enum.StrEnum):
    PENDING = "Pending"
    DELIVERED = "Delivered"
    FAILED = "Failed"
    SKIPPED = "Skipped"


@dataclass(frozen=True)
class Start:
    status: DeliveryStatus
    reason: str | None  # why it was Skipped (shown as lastError)


def initial_status(
    send_when: str, rows: int | None, sha256: str | None, last_delivered_sha256: str | None
) -> Start:
    """sendWhen: `hasRows` skips a run without rows; `changed` skips a file identical (sha256)
    to the last run of the definition that was Delivered; `always` sends."""
    if send_when == "hasRows" and not rows:
        return Start(DeliveryStatus.SKIPPED, "Skipped: the run has no rows (sendWhen hasRows).")
    if send_when == "changed" and sha256 is not None and sha256 == last_delivered_sha256:
        return Start(
            DeliveryStatus.SKIPPED,
            "Skipped: the file is the same as the last delivered run's (sendWhen changed).",
        )
    return Start(DeliveryStatus.PENDING, None)


class AttemptResult(enum.Enum):
    DELIVERED = "delivered"
    TRANSIENT = "transient"
    PERMANENT = "permanent"


@dataclass(frozen=True)
class Next:
    status: DeliveryStatus
    next_attempt_at: datetime | None  # Pending only
    last_error: str | None


def after_attempt(
    result: AttemptResult,
    error: str | None,
    attempts: int,
    max_attempts: int,
    schedule: Sequence[float],
    now: datetime,
) -> Next:
    """`attempts` counts the attempts since the delivery was last (re)started, this one
    included. A transient failure waits on the schedule until the attempts are spent."""
    if result is AttemptResult.DELIVERED:
        return Next(DeliveryStatus.DELIVERED, None, None)
    message = (error or "failed")[:MAX_ERROR_LENGTH]
    if result is AttemptResult.PERMANENT:
        return Next(DeliveryStatus.FAILED, None, message)
    delay = retry_delay(attempts, max_attempts, schedule)
    if delay is None:
        spent = f"{message} (gave up after {attempts} attempt{'s' if attempts != 1 else ''})"
        return Next(DeliveryStatus.FAILED, None, spent[:MAX_ERROR_LENGTH])
    return Next(DeliveryStatus.PENDING, now + timedelta(seconds=delay), message)

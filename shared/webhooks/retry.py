"""When a failed webhook message is tried again: the schedule and its jitter, pure."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

# Seconds after each failed attempt (Standard Webhooks' usual schedule, stretched to a day).
DEFAULT_SCHEDULE = (5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
JITTER = 0.2  # each delay is drawn within ±20 %, so many failed messages do not retry at once


def parse_schedule(raw: str) -> tuple[float, ...]:
    """WEBHOOK_RETRY_SCHEDULE: comma-separated seconds, each above 0; ValueError otherwise."""
    delays = tuple(float(part) for part in raw.split(",") if part.strip())
    if not delays:
        raise ValueError("lists no delay")
    if any(delay <= 0 for delay in delays):
        raise ValueError("every delay must be above 0 seconds")
    return delays


def retry_delay(
    failed_attempts: int,
    schedule: Sequence[float],
    uniform: Callable[[float, float], float] = random.uniform,
) -> float | None:
    """Seconds until the next attempt after `failed_attempts` failures; None: no more attempts.

    The first attempt is immediate; after the n-th failure the n-th delay of the schedule
    applies, scaled by a factor drawn from [0.8, 1.2].
    """
    if failed_attempts < 1:
        raise ValueError("a retry follows at least one failed attempt")
    if failed_attempts > len(schedule):
        return None
    return schedule[failed_attempts - 1] * uniform(1 - JITTER, 1 + JITTER)

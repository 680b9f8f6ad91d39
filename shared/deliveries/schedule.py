"""When a delivery that failed transiently is tried again: pure.

The default is one minute doubling up to one hour, for DELIVERY_MAX_ATTEMPTS attempts in
all (6: retries after 1, 2, 4, 8 and 16 minutes). DELIVERY_RETRY_SCHEDULE lists the seconds
instead; with fewer delays than retries, the last delay repeats.
"""

from __future__ import annotations

from collections.abc import Sequence

FIRST_DELAY = 60.0
LONGEST_DELAY = 3600.0


def default_schedule(max_attempts: int) -> tuple[float, ...]:
    """The delay after each failed attempt but the last: 60, 120, 240, ... at most 3600."""
    return tuple(min(FIRST_DELAY * 2**index, LONGEST_DELAY) for index in range(max_attempts - 1))


def parse_schedule(raw: str, max_attempts: int) -> tuple[float, ...]:
    """DELIVERY_RETRY_SCHEDULE (comma-separated seconds, each above 0), or the default when
    empty; ValueError for anything else."""
    if not raw.strip():
        return default_schedule(max_attempts)
    try:
        delays = tuple(float(part) for part in raw.split(",") if part.strip())
    except ValueError:
        raise ValueError("must list seconds, comma-separated") from None
    if any(delay <= 0 for delay in delays):
        raise ValueError("every delay must be above 0 seconds")
    return delays


def retry_delay(failed_attempts: int, max_attempts: int, schedule: Sequence[float]) -> float | None:
    """Seconds until the next attempt after `failed_attempts` failures; None: no more."""
    if failed_attempts < 1:
        raise ValueError("a retry follows at least one failed attempt")
    if failed_attempts >= max_attempts or not schedule:
        return None
    return schedule[min(failed_attempts, len(schedule)) - 1]

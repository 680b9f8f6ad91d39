"""When to try again and how long to wait: pure functions, so they are tested exhaustively."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# Statuses that say "not now" rather than "no": a retry can succeed. Every other 4xx is final,
# and a 500 means the request itself broke something, so repeating it is no help.
RETRY_STATUSES = frozenset({429, 502, 503, 504})

BACKOFF_BASE = 0.5  # seconds, before the first retry without Retry-After
BACKOFF_CAP = 8.0  # seconds
MAX_RETRY_AFTER = 60.0  # seconds: a longer Retry-After is shortened, so a script never hangs

POLL_FIRST = 1.0  # seconds, when the server suggested nothing
POLL_FACTOR = 1.5
POLL_CAP = 3.0  # seconds: progress stays fresh on a terminal (the server writes it each second)
POLL_JITTER = 0.2  # up to 20 % later, so many waiting clients spread out

Random = Callable[[], float]


def is_retryable(status: int | None) -> bool:
    """True for a connection error (None) and the statuses in RETRY_STATUSES."""
    return status is None or status in RETRY_STATUSES


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds from now: either delay-seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


def retry_delay(attempt: int, retry_after: float | None, rng: Random = random.random) -> float:
    """Seconds before retry number `attempt` (0 for the first).

    The server's Retry-After wins when it sent one; otherwise capped exponential backoff
    with full jitter, so clients that failed together do not retry together.
    """
    if retry_after is not None:
        return min(retry_after, MAX_RETRY_AFTER)
    return rng() * min(BACKOFF_CAP, BACKOFF_BASE * 2.0**attempt)


class PollSchedule:
    """The pauses between looks at a running report.

    The first look waits for the Retry-After of the request's answer, if there was one;
    then the pauses grow from POLL_FIRST to POLL_CAP. A Retry-After on a later answer is
    honoured for that pause alone.
    """

    def __init__(self, retry_after: float | None = None, rng: Random = random.random) -> None:
        self._first = retry_after
        self._next = POLL_FIRST
        self._rng = rng

    def next_delay(self, retry_after: float | None = None) -> float:
        """Seconds to sleep before the next look; never shorter than a Retry-After."""
        if retry_after is None:
            retry_after, self._first = self._first, None
        if retry_after is not None:
            base = min(retry_after, MAX_RETRY_AFTER)
        else:
            base, self._next = self._next, min(self._next * POLL_FACTOR, POLL_CAP)
        return base * (1.0 + POLL_JITTER * self._rng())

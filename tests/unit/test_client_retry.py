"""The client's retry and polling decisions, which are pure."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from client.retry import (
    BACKOFF_CAP,
    MAX_RETRY_AFTER,
    POLL_CAP,
    PollSchedule,
    is_retryable,
    parse_retry_after,
    retry_delay,
)


@pytest.mark.parametrize("status", [None, 429, 502, 503, 504])
def test_connection_errors_and_not_now_statuses_are_retried(status):
    assert is_retryable(status)


@pytest.mark.parametrize(
    "status", [200, 202, 400, 401, 403, 404, 409, 410, 413, 415, 422, 500, 501]
)
def test_every_other_status_is_final(status):
    assert not is_retryable(status)


def test_retry_after_is_read_as_seconds_or_an_http_date():
    now = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Tue, 01 Dec 2026 12:00:30 GMT", now) == 30.0
    assert parse_retry_after("Tue, 01 Dec 2026 11:00:00 GMT", now) == 0.0  # already past
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None


def test_the_servers_retry_after_wins_over_backoff_but_is_capped():
    assert retry_delay(0, 7.0, rng=lambda: 0.0) == 7.0
    assert retry_delay(5, 3600.0) == MAX_RETRY_AFTER


def test_backoff_grows_to_its_cap_with_full_jitter():
    assert [retry_delay(attempt, None, rng=lambda: 1.0) for attempt in range(6)] == [
        0.5,
        1.0,
        2.0,
        4.0,
        8.0,
        BACKOFF_CAP,
    ]
    assert retry_delay(3, None, rng=lambda: 0.0) == 0.0


def test_polls_wait_for_the_first_retry_after_then_grow_from_a_second_to_the_cap():
    schedule = PollSchedule(retry_after=2.0, rng=lambda: 0.0)
    delays = [schedule.next_delay() for _ in range(7)]
    assert delays == [2.0, 1.0, 1.5, 2.25, POLL_CAP, POLL_CAP, POLL_CAP]
    assert schedule.next_delay(retry_after=10.0) == 10.0  # a later Retry-After, for one pause


def test_poll_jitter_only_ever_lengthens_a_pause():
    assert PollSchedule(retry_after=2.0, rng=lambda: 1.0).next_delay() == pytest.approx(2.4)

"""Which dead letters may be replayed: only those whose report still exists and is unfinished."""

import uuid

import pytest

from relay.dead_letters import refusal
from shared.statuses import ReportStatus


@pytest.mark.parametrize("status", list(ReportStatus))
def test_only_an_active_report_is_replayed(status):
    reason = refusal(uuid.uuid4(), status)

    assert (reason is None) == status.is_active
    if reason is not None:
        assert status.value in reason


def test_a_message_that_names_no_report_or_a_missing_one_is_not_replayed():
    assert "names no report" in refusal(None, None)
    assert "does not exist" in refusal(uuid.uuid4(), None)


def test_a_moved_letter_lives_only_what_is_left_of_its_age_limit():
    from datetime import UTC, datetime, timedelta

    from shared.broker.dead_letters import remaining_life_ms

    now = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    hour_ms = 3600 * 1000

    assert remaining_life_ms(now - timedelta(hours=1), 3 * hour_ms, now) == 2 * hour_ms
    # AMQP timestamps arrive without a zone: they are UTC.
    naive = (now - timedelta(hours=1)).replace(tzinfo=None)
    assert remaining_life_ms(naive, 3 * hour_ms, now) == 2 * hour_ms
    assert remaining_life_ms(now - timedelta(hours=5), 3 * hour_ms, now) == 1  # expires at once
    assert remaining_life_ms(None, 3 * hour_ms, now) is None

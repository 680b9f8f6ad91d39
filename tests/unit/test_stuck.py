"""When a Pending report's message counts as lost, from its last publish and the queue's backlog."""

from datetime import UTC, datetime, timedelta

from relay.stuck import ORDER_MARGIN, lost_before

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
STUCK_AFTER = timedelta(minutes=5)


def test_with_nothing_waiting_every_publish_older_than_stuck_after_is_lost():
    assert lost_before(NOW, STUCK_AFTER, 0, None) == NOW - STUCK_AFTER


def test_under_a_backlog_only_publishes_older_than_any_that_can_still_wait_are_lost():
    oldest_waiting = NOW - timedelta(minutes=20)  # the backlog is twenty minutes deep

    cutoff = lost_before(NOW, STUCK_AFTER, 40_000, oldest_waiting)

    assert cutoff == oldest_waiting - ORDER_MARGIN
    assert NOW - timedelta(minutes=30) < cutoff  # lost half an hour ago: sent again now
    assert NOW - timedelta(minutes=19) > cutoff  # in line behind the head: left alone


def test_a_shallow_backlog_does_not_make_a_young_report_look_lost():
    oldest_waiting = NOW - timedelta(seconds=10)

    assert lost_before(NOW, STUCK_AFTER, 3, oldest_waiting) == NOW - STUCK_AFTER


def test_more_messages_waiting_than_the_outbox_remembers_judges_nothing_lost():
    assert lost_before(NOW, STUCK_AFTER, 10, None) is None

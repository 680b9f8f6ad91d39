import pytest

from shared.statuses import ReportStatus, can_transition

S = ReportStatus

ALLOWED = {
    (S.PENDING, S.PROCESSING),
    (S.PENDING, S.CANCELLED),
    (S.PENDING, S.FAILED),
    (S.PROCESSING, S.PENDING),
    (S.PROCESSING, S.PROCESSING),
    (S.PROCESSING, S.COMPLETED),
    (S.PROCESSING, S.FAILED),
    (S.PROCESSING, S.CANCELLED),
    (S.COMPLETED, S.EXPIRED),
}


@pytest.mark.parametrize("current", list(S))
@pytest.mark.parametrize("new", list(S))
def test_only_the_documented_transitions_are_allowed(current, new):
    assert can_transition(current, new) == ((current, new) in ALLOWED)


def test_terminal_and_active_statuses_partition_all_statuses():
    assert {s for s in S if s.is_terminal} == {S.COMPLETED, S.FAILED, S.CANCELLED, S.EXPIRED}
    assert {s for s in S if s.is_active} == {S.PENDING, S.PROCESSING}


def test_no_transition_leaves_a_terminal_status_except_expiry():
    for status in S:
        if status.is_terminal:
            assert all(not can_transition(status, new) for new in S if new != S.EXPIRED)


def test_the_clients_statuses_are_the_servers():
    from typing import get_args

    from client import TERMINAL_STATUSES, Status
    from shared.statuses import TERMINAL

    assert set(get_args(Status)) == {status.value for status in ReportStatus}
    assert {status.value for status in TERMINAL} == TERMINAL_STATUSES

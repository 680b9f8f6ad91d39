"""Every outcome of an export maps to exactly one broker disposition, and retries are bounded."""

import pytest

from shared.config import Settings
from worker.exporter import Outcome
from worker.worker import DISPOSITIONS, Disposition, disposition, park_seconds

EXPECTED = {
    Outcome.COMPLETED: Disposition.ACK,
    Outcome.CANCELLED: Disposition.ACK,
    Outcome.FAILED: Disposition.ACK,
    Outcome.SKIPPED: Disposition.ACK,
    Outcome.CLAIM_LOST: Disposition.ACK,
    Outcome.HANDED_BACK: Disposition.REQUEUE,
    Outcome.HELD_ELSEWHERE: Disposition.PARK,
    Outcome.RETRY_LATER: Disposition.RETRY,
    Outcome.GAVE_UP: Disposition.DEAD_LETTER,
    Outcome.UNKNOWN_REPORT: Disposition.DEAD_LETTER,
}


def test_every_outcome_has_a_disposition():
    assert set(DISPOSITIONS) == set(Outcome)


@pytest.mark.parametrize("outcome", list(Outcome))
@pytest.mark.parametrize("retries", [0, 1, 9])
def test_each_outcome_maps_as_designed_while_retries_remain(outcome, retries):
    assert disposition(outcome, retries, max_retries=10) is EXPECTED[outcome]


@pytest.mark.parametrize("outcome", list(Outcome))
def test_a_message_out_of_retries_is_dead_lettered_instead_of_retried(outcome):
    decided = disposition(outcome, retries=10, max_retries=10)

    if EXPECTED[outcome] is Disposition.RETRY:
        assert decided is Disposition.DEAD_LETTER
    else:
        assert decided is EXPECTED[outcome]


def test_an_undecodable_message_is_dead_lettered():
    assert disposition(None, retries=0, max_retries=10) is Disposition.DEAD_LETTER


def test_no_outcome_requeues_straight_away_but_those_of_a_worker_that_stops():
    requeued = {o for o in Outcome if disposition(o, 0, 10) is Disposition.REQUEUE}

    assert requeued == {Outcome.HANDED_BACK}


def test_a_message_whose_report_is_held_elsewhere_waits_until_that_lease_can_have_run_out():
    settings = Settings(lease_seconds=45)

    assert disposition(Outcome.HELD_ELSEWHERE, retries=10, max_retries=10) is Disposition.PARK
    assert 45 < park_seconds(settings) <= 50

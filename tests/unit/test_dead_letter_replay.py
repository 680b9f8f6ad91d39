"""Which dead letters may be replayed: only those whose report still exists and is unfinished."""

import uuid

import pytest

from relay.dead_letters import refusal
from shared.statuses import ReportStatus


@pytest.mark.parametrize("status", list(ReportStatus))
def test_only_an_active_report_is_replayed(status):
    reason = refusal(uuid.uuid4(), status.value)

    assert (reason is None) == status.is_active
    if reason is not None:
        assert status.value in reason


def test_a_message_that_names_no_report_or_a_missing_one_is_not_replayed():
    assert "names no report" in refusal(None, None)
    assert "does not exist" in refusal(uuid.uuid4(), None)

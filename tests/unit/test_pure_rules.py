"""Pure rules that decide without I/O: backoff, "the same request", progress and ETA."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from api.reports.admission import request_hash
from api.reports.presenter import progress
from client.cli.progress import bar, eta_seconds, format_duration
from client.models import Progress
from client.models import Report as ClientReport
from shared.backoff import compute_backoff
from shared.catalog import get_report_type
from shared.models import Report
from shared.statuses import ReportStatus

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


# compute_backoff: capped exponential with full jitter in [ceiling/2, ceiling].


@pytest.mark.parametrize(
    ("attempt", "ceiling"), [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (7, 30.0), (50, 30.0)]
)
def test_backoff_stays_within_half_and_whole_of_its_capped_ceiling(attempt, ceiling):
    rng = random.Random(attempt)
    waits = [compute_backoff(attempt, base=0.5, cap=30.0, rng=rng) for _ in range(200)]
    assert all(ceiling / 2 <= wait <= ceiling for wait in waits)
    assert len(set(waits)) > 100  # jittered, not one value for every process


def test_backoff_grows_until_the_cap_and_never_past_it():
    lows = [compute_backoff(n, base=1.0, cap=8.0, rng=_Fixed(0.0)) for n in range(1, 8)]
    highs = [compute_backoff(n, base=1.0, cap=8.0, rng=_Fixed(1.0)) for n in range(1, 8)]
    assert highs == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0, 8.0]
    assert lows == [high / 2 for high in highs]


@pytest.mark.parametrize("attempt", [0, -1])
def test_backoff_counts_attempts_from_one(attempt):
    with pytest.raises(ValueError):
        compute_backoff(attempt)


class _Fixed(random.Random):
    """uniform(a, b) at a fixed fraction of the way from a to b."""

    def __init__(self, fraction: float) -> None:
        super().__init__()
        self.fraction = fraction

    def uniform(self, a: float, b: float) -> float:
        return a + (b - a) * self.fraction


# request_hash: the same type, format and parameters, whatever the key order.


def test_request_hash_ignores_key_order_and_tells_every_difference():
    sessions = get_report_type("sessions")
    base = request_hash(sessions, "csv", {"fromDate": "2026-01-01", "toDate": "2026-01-31"})
    assert base == request_hash(sessions, "csv", {"toDate": "2026-01-31", "fromDate": "2026-01-01"})
    assert len(base) == 64 and int(base, 16) >= 0
    others = {
        request_hash(sessions, "json", {"fromDate": "2026-01-01", "toDate": "2026-01-31"}),
        request_hash(sessions, "csv", {"fromDate": "2026-01-02", "toDate": "2026-01-31"}),
        request_hash(sessions, "csv", {"fromDate": "2026-01-01", "toDate": "2026-01-31", "x": 1}),
        request_hash(sessions, "csv", {"fromDate": "2026-01-01"}),
    }
    assert base not in others and len(others) == 4


# progress: percent never 100 before the end, ETA from the pace so far.


def _report(status: ReportStatus, done: int, total: int | None, started_ago: float = 10.0):
    return Report(
        status=status,
        rows_processed=done,
        rows_total=total,
        started_at=NOW - timedelta(seconds=started_ago),
        completed_at=NOW if status == ReportStatus.COMPLETED else None,
    )


def test_progress_projects_the_pace_so_far():
    shown = progress(_report(ReportStatus.PROCESSING, 250, 1000, started_ago=10), now=NOW)
    assert shown["percent"] == 25.0
    assert shown["estimated_completion_at"] == NOW + timedelta(seconds=30)


def test_progress_never_claims_the_end_before_it_comes():
    shown = progress(_report(ReportStatus.PROCESSING, 1500, 1000), now=NOW)
    assert shown["percent"] == 99.9  # the total was the planner's estimate
    assert shown["estimated_completion_at"] == NOW  # not in the past
    done = progress(_report(ReportStatus.COMPLETED, 1500, 1500), now=NOW)
    assert done["percent"] == 100.0 and done["estimated_completion_at"] == NOW


@pytest.mark.parametrize(
    ("status", "done", "total"),
    [
        (ReportStatus.PENDING, 0, 1000),
        (ReportStatus.PROCESSING, 0, 1000),  # no pace yet
        (ReportStatus.PROCESSING, 10, None),  # no estimate
        (ReportStatus.PROCESSING, 10, 0),
    ],
)
def test_progress_gives_no_eta_without_a_pace_and_a_total(status, done, total):
    shown = progress(_report(status, done, total), now=NOW)
    assert shown["estimated_completion_at"] is None
    assert shown["percent"] == (round(100.0 * done / total, 1) if total else None)


# The command line's view of the same progress.


def _client_report(status: str, eta: datetime | None) -> ClientReport:
    return ClientReport(
        report_id="r",
        report_type="sessions",
        format="csv",
        status=status,
        progress=Progress(rows_processed=5, rows_total=10, estimated_completion_at=eta),
    )


def test_eta_counts_down_and_stops_at_zero_and_at_the_end():
    assert eta_seconds(_client_report("Processing", NOW + timedelta(seconds=90)), NOW) == 90.0
    assert eta_seconds(_client_report("Processing", NOW - timedelta(seconds=5)), NOW) == 0.0
    assert eta_seconds(_client_report("Completed", NOW + timedelta(seconds=90)), NOW) is None
    assert eta_seconds(_client_report("Processing", None), NOW) is None


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0, "0:00"), (59.6, "1:00"), (61, "1:01"), (3600, "1:00:00"), (-3, "0:00")],
)
def test_durations_read_as_a_clock(seconds, shown):
    assert format_duration(seconds) == shown


@pytest.mark.parametrize(
    ("percent", "shown"),
    [(None, "[----]"), (0, "[----]"), (50, "[##--]"), (100, "[####]"), (150, "[####]")],
)
def test_the_bar_fills_in_proportion_and_never_overflows(percent, shown):
    assert bar(percent, width=4) == shown

"""Reports by outcome, as Prometheus counters: each one counted by the process that made it.

The API counts what it creates and the Pending reports it cancels, the worker what it
completes, fails or cancels while running, the relay's sweep what it expires. A counter is
incremented after the transition's transaction committed and only when its conditional
UPDATE matched, so a report is counted once however many processes raced for it. Summed
over every process (`sum by (type) (rate(...))`), they replace a count over the table.
Under gunicorn they are summed across the API's workers like every other API metric.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable

from prometheus_client import Counter

CREATED = Counter(
    "reportbox_reports_created", "Reports accepted (202), by type and format.", ["type", "format"]
)
COMPLETED = Counter("reportbox_reports_completed", "Reports that became Completed.", ["type"])
FAILED = Counter("reportbox_reports_failed", "Reports that became Failed.", ["type"])
CANCELLED = Counter("reportbox_reports_cancelled", "Reports that became Cancelled.", ["type"])
EXPIRED = Counter("reportbox_reports_expired", "Reports that became Expired.", ["type"])
# Runs of report definitions, by what made them: `generate` (the API) or `schedule` (a relay).
RUNS = Counter("reportbox_definition_runs", "Runs of report definitions made.", ["trigger"])


def count_each(counter: Counter, report_types: Iterable[str]) -> None:
    """One increment per report type, by how many reports of that type there are."""
    for report_type, count in Tally(report_types).items():
        counter.labels(report_type).inc(count)

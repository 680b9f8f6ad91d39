"""A definition's runs: the statements that make them, and the parameters each one carries.

Every run is an ordinary report (Pending, with its outbox message in the same transaction),
so the relay, the worker, cancel, history, retention and download treat it like any other.
"""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import text

from shared.catalog import ReportType
from shared.definitions.periods import resolve_period, run_day
from shared.messages import ReportRequested

# The zone a definition's days are counted in: its schedule's, else the report's, else UTC.
DEFAULT_ZONE = "UTC"


def definition_zone(schedule_timezone: str | None, parameters: dict[str, Any]) -> str:
    return schedule_timezone or parameters.get("timezone") or DEFAULT_ZONE


def run_parameters(
    report_type: ReportType, saved: dict[str, Any], period: str | None, day: date
) -> dict[str, Any]:
    """The saved parameters with the period's concrete dates for a run on `day`, canonical.

    Raises marshmallow.ValidationError when they do not (or no longer) fit the type.
    """
    raw = dict(saved)
    if period is not None:
        if report_type.range_fields is None:
            raise ValueError(f"{report_type.name} has no date range for a period to fill")
        first, last = resolve_period(period, day)
        start, end = report_type.range_fields
        raw[start], raw[end] = first.isoformat(), last.isoformat()
    return report_type.dump_parameters(report_type.load_parameters(raw))


def parameters_at(
    report_type: ReportType,
    saved: dict[str, Any],
    period: str | None,
    schedule_timezone: str | None,
    instant: datetime,
) -> dict[str, Any]:
    """run_parameters for a run at `instant`, its day counted in the definition's zone."""
    day = run_day(instant, definition_zone(schedule_timezone, saved))
    return run_parameters(report_type, saved, period, day)


# claim_due: the active definitions whose next instant has come, oldest first, locked until
# the caller's transaction commits. A scheduler in another relay SKIPs LOCKED rows, so the
# schedulers of several relays share the due definitions without a leader; one that dies
# before its commit releases its rows, and the next tick claims them again. Served by the
# partial index definitions_due.
CLAIM_DUE = text(
    """
    SELECT id, org, owner_id, owner_roles, report_type, format, parameters, period,
           schedule_cron, schedule_timezone, next_run_at, resumed_at, now() AS database_now
    FROM report_definitions
    WHERE active AND next_run_at IS NOT NULL AND next_run_at <= now()
    ORDER BY next_run_at
    LIMIT :limit
    FOR UPDATE SKIP LOCKED
    """
)

# Seconds until the earliest active definition is due (negative: overdue; NULL: none),
# by the database's clock, the one CLAIM_DUE compares with. Served by definitions_due.
NEXT_DUE_IN = text(
    """
    SELECT extract(epoch FROM min(next_run_at) - now()) AS seconds
    FROM report_definitions WHERE active AND next_run_at IS NOT NULL
    """
)

# A run still Pending or Processing: an instant that finds one is skipped, not stacked.
ACTIVE_RUN = text(
    """
    SELECT 1 FROM reports
    WHERE definition_id = :definition_id AND status IN ('Pending', 'Processing')
    LIMIT 1
    """
)

# failure_streak: Failed runs in a row among the newest ended ones, up to :limit. A Completed
# (or Expired) run ends the streak; a Cancelled one is neither a success nor a failure and is
# passed over. Runs made before :since (the definition's resumed_at; NULL: all) do not count,
# so a resumed definition starts afresh. Served by reports_definition_runs.
FAILURE_STREAK = text(
    """
    SELECT count(*) AS streak FROM (
        SELECT bool_and(status = 'Failed')
               OVER (ORDER BY created_at DESC ROWS UNBOUNDED PRECEDING) AS unbroken
        FROM (
            SELECT status, created_at FROM reports
            WHERE definition_id = :definition_id
              AND status IN ('Completed', 'Failed', 'Expired')
              AND (CAST(:since AS timestamptz) IS NULL OR created_at > :since)
            ORDER BY created_at DESC
            LIMIT :limit
        ) AS newest
    ) AS runs
    WHERE unbroken
    """
)

# make_run: the run's report and its outbox message in one statement, inside the caller's
# transaction with the definition's new next instant. The unique index
# reports_definition_instant makes a second run for the same (definition, instant) a no-op,
# and no message is written without its report; it returns no row then. A scheduled run has
# no request hash, so an identical report the owner asked for by hand never blocks it.
MAKE_RUN = text(
    """
    WITH report AS (
        INSERT INTO reports (id, org, owner_id, report_type, format, parameters, status,
                             definition_id, trigger, scheduled_for)
        VALUES (:report_id, :org, :owner_id, :report_type, :format, CAST(:parameters AS jsonb),
                'Pending', :definition_id, :trigger, :scheduled_for)
        ON CONFLICT (definition_id, scheduled_for) WHERE scheduled_for IS NOT NULL DO NOTHING
        RETURNING id
    ),
    message AS (
        INSERT INTO outbox (message_id, message_type, report_id, body)
        SELECT :message_id, :message_type, id, :body FROM report
    )
    SELECT id FROM report
    """
)

SET_NEXT_RUN = text(
    """
    UPDATE report_definitions
    SET next_run_at = :next_run_at, consecutive_failures = :streak
    WHERE id = :definition_id
    """
)

PAUSE = text(
    """
    UPDATE report_definitions
    SET active = false, next_run_at = NULL, consecutive_failures = :streak,
        paused_reason = :reason, updated_at = now()
    WHERE id = :definition_id
    """
)


def make_run_values(
    definition: Any,
    parameters: dict[str, Any],
    trigger: str,
    scheduled_for: datetime | None,
) -> dict[str, Any]:
    """MAKE_RUN's values for a new run of `definition` (a row with its columns)."""
    message = ReportRequested.new(uuid.uuid4())
    return {
        "report_id": message.report_id,
        "org": definition.org,
        "owner_id": definition.owner_id,
        "report_type": definition.report_type,
        "format": definition.format,
        "parameters": json.dumps(parameters),
        "definition_id": definition.id,
        "trigger": trigger,
        "scheduled_for": scheduled_for,
        "message_id": message.message_id,
        "message_type": message.TYPE,
        "body": message.encode(),
    }

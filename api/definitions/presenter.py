"""How a report definition looks to a client: its fields, next instants and last run."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from api.definitions import rules
from api.definitions.deliveries import shown
from shared.definitions.schedule import Schedule
from shared.models import ReportDefinition


def present(
    definition: ReportDefinition, summary: Mapping[str, Any], now: datetime
) -> dict[str, Any]:
    """The definition as its resource (snake_case; DefinitionSchema dumps it)."""
    schedule = None
    if definition.schedule_cron is not None and definition.schedule_timezone is not None:
        schedule = Schedule(definition.schedule_cron, definition.schedule_timezone)
    last = summary["last_run"]
    return {
        "definition_id": definition.id,
        "name": definition.name,
        "description": definition.description,
        "report_type": definition.report_type,
        "format": definition.format,
        "parameters": definition.parameters,
        "period": definition.period,
        "schedule": {"cron": schedule.cron, "timezone": schedule.timezone} if schedule else None,
        "deliveries": shown(definition.deliveries or []),
        "send_when": definition.send_when,
        "active": definition.active,
        "owner": definition.owner_id,
        "created_at": definition.created_at,
        "updated_at": definition.updated_at,
        "next_run_at": definition.next_run_at.astimezone(schedule.zone)
        if schedule is not None and definition.next_run_at is not None
        else definition.next_run_at,
        "next_runs": rules.next_runs(schedule, definition.active, now),
        "last_run": {
            "report_id": last.id,
            "status": last.status,
            "scheduled_for": last.scheduled_for,
            "trigger": last.trigger,
        }
        if last is not None
        else None,
        "consecutive_failures": summary["consecutive_failures"],
        "paused_reason": definition.paused_reason,
    }

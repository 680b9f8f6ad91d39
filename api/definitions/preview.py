"""A schedule's next instants and its description in words, before anything is saved."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cron_descriptor import ExpressionDescriptor, Options

from shared.catalog.standard import known_timezones
from shared.definitions.schedule import Schedule, ScheduleError, parse_schedule
from shared.errors import InvalidParameters


def describe(schedule: Schedule) -> str:
    """e.g. "At 02:30, Monday through Friday (Europe/Berlin)"."""
    options = Options()
    options.use_24hour_time_format = True
    try:
        words = ExpressionDescriptor(schedule.expression, options).get_description()
    except Exception:  # cron-descriptor reads less than cronsim runs: the expression itself
        words = schedule.expression
    return f"{words} ({schedule.timezone})"


def preview(cron: str, timezone: str, start: datetime, count: int) -> dict[str, Any]:
    """The next `count` instants strictly after `start`, each with the zone's offset.

    The minimum interval between runs is not checked here: saving a definition checks it.
    """
    try:
        schedule = parse_schedule(cron, timezone, known_timezones())
    except ScheduleError as error:
        # The query names them cron and timezone; a definition's body schedule.cron etc.
        raise InvalidParameters(
            error.message, {error.field.removeprefix("schedule."): [error.message]}
        ) from None
    return {
        "cron": schedule.cron,
        "timezone": schedule.timezone,
        "description": describe(schedule),
        "instants": schedule.instants_after(start, count),
    }

"""What makes a report definition valid, and when it runs next: pure functions, no I/O.

A definition's parameters are checked with its report type's own schema. With a `period`,
the stored parameters leave the date range out (each run fills it), so they are checked
with the range a run today would get.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from marshmallow import ValidationError

from api.errors import flatten_messages
from shared.catalog import ReportType, get_report_type
from shared.catalog.standard import known_timezones
from shared.definitions import runs
from shared.definitions.periods import run_day
from shared.definitions.schedule import Schedule, ScheduleError, check_interval, parse_schedule
from shared.deliveries.kinds import KINDS
from shared.deliveries.targets import InvalidTarget, Kind
from shared.errors import InvalidParameters

API_MODES = ("async", "sync")
DEFAULT_DELIVERIES = ({"kind": "api", "mode": "async"},)
NEXT_RUNS = 5  # instants a definition's resource lists


@dataclass(frozen=True)
class Checked:
    """A definition's fields once valid, in the form they are stored."""

    name: str
    description: str | None
    report_type: ReportType
    format: str
    parameters: dict[str, Any]
    period: str | None
    schedule: Schedule | None
    deliveries: list[dict[str, Any]]
    send_when: str
    active: bool


def check_definition(
    fields: Mapping[str, Any],
    now: datetime,
    min_interval_seconds: float,
    kinds: Mapping[str, Kind] = KINDS,
) -> Checked:
    """`fields` (loaded by DefinitionSchema, snake_case) checked as a whole, or
    InvalidParameters naming every field at fault at once. A period is tried with the range
    a run at `now` would get."""
    errors: dict[str, list[str]] = {}
    schedule = None
    if fields.get("schedule") is not None:
        try:
            schedule = check_schedule(
                fields["schedule"]["cron"], fields["schedule"]["timezone"], min_interval_seconds
            )
        except ScheduleError as error:
            errors[error.field] = [error.message]
    deliveries = check_deliveries(fields.get("deliveries"), errors, kinds)
    report_type = get_report_type(fields["report_type"])
    parameters: dict[str, Any] = {}
    if report_type is None:
        errors["reportType"] = [f"there is no report type {fields['report_type']!r}"]
    else:
        if fields["format"] not in report_type.formats:
            errors["format"] = [f"must be one of {list(report_type.formats)}"]
        zone = runs.definition_zone(
            schedule.timezone if schedule else None, fields.get("parameters") or {}
        )
        parameters = check_parameters(
            report_type, fields.get("parameters") or {}, fields.get("period"), now, zone, errors
        )
    if errors:
        raise InvalidParameters("The definition has invalid fields.", errors)
    assert report_type is not None
    return Checked(
        name=fields["name"],
        description=fields.get("description"),
        report_type=report_type,
        format=fields["format"],
        parameters=parameters,
        period=fields.get("period"),
        schedule=schedule,
        deliveries=deliveries,
        send_when=fields.get("send_when", "always"),
        active=fields.get("active", True),
    )


def check_schedule(cron: str, timezone: str, min_interval_seconds: float) -> Schedule:
    """The schedule, or ScheduleError naming schedule.cron or schedule.timezone."""
    schedule = parse_schedule(cron, timezone, known_timezones())
    check_interval(schedule, min_interval_seconds)
    return schedule


def check_deliveries(
    deliveries: list[Any] | None,
    errors: dict[str, list[str]],
    kinds: Mapping[str, Kind] = KINDS,
) -> list[dict[str, Any]]:
    """The deliveries in their canonical form (the api delivery's mode filled in, each
    target as its kind's validate returns it, secrets still in the clear); problems go into
    `errors` as deliveries.N.member."""
    if deliveries is None:
        return [dict(delivery) for delivery in DEFAULT_DELIVERIES]
    checked: list[dict[str, Any]] = []
    for index, delivery in enumerate(deliveries):
        where = f"deliveries.{index}"
        if not isinstance(delivery, Mapping) or not isinstance(delivery.get("kind"), str):
            errors[where] = ['must be an object with a "kind"']
            continue
        kind = delivery["kind"]
        if kind in kinds:
            try:
                checked.append(kinds[kind].validate(delivery))
            except InvalidTarget as refused:
                errors[f"{where}.{refused.field}"] = [refused.message]
            continue
        if kind != "api":
            errors[f"{where}.kind"] = [f"must be one of {['api', *kinds]}"]
            continue
        unknown = sorted(set(delivery) - {"kind", "mode"})
        if unknown:
            errors[f"{where}.{unknown[0]}"] = ["unknown member of an api delivery"]
            continue
        mode = delivery.get("mode", "async")
        if mode not in API_MODES:
            errors[f"{where}.mode"] = [f"must be one of {list(API_MODES)}"]
            continue
        if any(earlier["kind"] == "api" for earlier in checked):
            errors[where] = ["a definition has at most one api delivery"]
            continue
        checked.append({"kind": "api", "mode": mode})
    return checked


def check_parameters(
    report_type: ReportType,
    raw: Mapping[str, Any],
    period: str | None,
    now: datetime,
    zone: str,
    errors: dict[str, list[str]],
) -> dict[str, Any]:
    """The parameters to store: canonical, and without the range when a period fills it."""
    if period is not None:
        if report_type.range_fields is None:
            errors["period"] = [f"{report_type.name!r} reports have no date range to fill"]
            return {}
        given = [name for name in report_type.range_fields if name in raw]
        for name in given:
            errors[f"parameters.{name}"] = ["is filled by period at each run; leave it out"]
        if given:
            return {}
    try:
        day = run_day(now, zone)
    except (KeyError, ValueError, TypeError):  # a bad parameters.timezone, named below
        day = run_day(now, runs.DEFAULT_ZONE)
    try:
        parameters = runs.run_parameters(report_type, dict(raw), period, day)
    except ValidationError as exc:
        errors.update(flatten_messages(exc.messages, "parameters"))
        return {}
    if period is not None:
        for name in report_type.range_fields or ():
            parameters.pop(name, None)
    return parameters


def has_api_delivery(deliveries: list[dict[str, Any]], mode: str) -> bool:
    return any(d.get("kind") == "api" and d.get("mode") == mode for d in deliveries)


def next_run_at(schedule: Schedule | None, active: bool, now: datetime) -> datetime | None:
    """The first instant after now; None when nothing is scheduled or the definition rests."""
    if schedule is None or not active:
        return None
    return schedule.next_after(now)


def next_runs(schedule: Schedule | None, active: bool, now: datetime) -> list[datetime]:
    """The next NEXT_RUNS instants, with the zone's offset; none for a resting definition."""
    if schedule is None or not active:
        return []
    return schedule.instants_after(now, NEXT_RUNS)

"""What a report type is: parameters it accepts, who may ask, and the query behind it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from typing import Any

from marshmallow import ValidationError, fields, validates_schema

from shared.inputs import FullMatch, InputSchema, report_date

Parameters = Mapping[str, Any]


@dataclass(frozen=True)
class Query:
    """SQL with psycopg %(name)s placeholders; its column names become the file's header."""

    sql: str
    params: Mapping[str, Any]
    # The session's time zone while the query runs: it renders timestamps in it.
    timezone: str = "UTC"


@dataclass(frozen=True)
class ReportType:
    name: str
    title: str
    description: str
    roles: frozenset[str]
    formats: tuple[str, ...]
    parameters_schema: type[InputSchema]
    build_query: Callable[[str, Parameters], Query]

    @cached_property
    def _schema(self) -> InputSchema:
        return self.parameters_schema()

    def load_parameters(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Validated, typed parameters; raises marshmallow.ValidationError."""
        return self._schema.load(raw)

    def dump_parameters(self, parameters: Parameters) -> dict[str, Any]:
        """The canonical JSON form that is stored with the report."""
        return self._schema.dump(parameters)

    def query(self, org: str, raw_parameters: Mapping[str, Any]) -> Query:
        return self.build_query(org, self.load_parameters(raw_parameters))


def country_code(**kwargs: Any) -> fields.String:
    return fields.String(
        validate=FullMatch(r"[A-Z]{2}", error="must be an ISO 3166 two-letter code"),
        **kwargs,
    )


def start_of_day(day: date) -> datetime:
    return datetime.combine(day, time.min, UTC)


def end_of_day_exclusive(day: date) -> datetime:
    """Inclusive date ranges end at the next midnight, UTC."""
    return start_of_day(day + timedelta(days=1))


def check_date_range(
    start: date | None, end: date | None, start_key: str, end_key: str, max_days: int | None
) -> None:
    if start is None or end is None:
        return
    if end < start:
        raise ValidationError(f"must not be before {start_key}", field_name=end_key)
    if max_days is not None and (end - start).days + 1 > max_days:
        raise ValidationError(
            f"the range from {start_key} to {end_key} may span at most {max_days} days",
            field_name=end_key,
        )


class Where:
    """Collects optional filters into a WHERE clause with named parameters."""

    def __init__(self, **params: Any) -> None:
        self.clauses: list[str] = []
        self.params: dict[str, Any] = dict(params)

    def add(self, clause: str, **params: Any) -> None:
        self.clauses.append(clause)
        self.params.update(params)

    def add_if(self, value: Any, clause: str, name: str) -> None:
        if value is not None:
            self.add(clause, **{name: value})

    def sql(self) -> str:
        return " AND ".join(self.clauses) if self.clauses else "TRUE"


class SessionWindow(InputSchema):
    """fromDate and toDate (ISO dates, inclusive, UTC) over demo.sessions, at most a year."""

    MAX_DAYS = 366

    from_date = report_date(required=True, data_key="fromDate")
    to_date = report_date(required=True, data_key="toDate")

    @validates_schema
    def _range(self, data: dict, **_: object) -> None:
        check_date_range(
            data.get("from_date"), data.get("to_date"), "fromDate", "toDate", self.MAX_DAYS
        )


def sessions_in_window(org: str, parameters: Parameters) -> Where:
    """The org's sessions (alias s) started within the window; served by sessions_org_started."""
    where = Where()
    where.add(
        "s.org = %(org)s AND s.started_at >= %(start)s AND s.started_at < %(end)s",
        org=org,
        start=start_of_day(parameters["from_date"]),
        end=end_of_day_exclusive(parameters["to_date"]),
    )
    return where

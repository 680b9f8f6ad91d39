"""What a report type is: parameters it accepts, who may ask, and the query behind it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from marshmallow import ValidationError, fields, validates_schema

from shared.catalog.standard import STANDARD_FIELDS, standard_schema
from shared.inputs import FullMatch, InputSchema, report_date

Parameters = Mapping[str, Any]

# Every format a report can be written in; worker/formats has one writer for each.
EXPORT_FORMATS = ("csv", "csv.gz", "jsonl", "json", "xlsx", "pdf")

# What a column's values are, as the catalog tells clients.
COLUMN_TYPES = ("integer", "number", "string", "timestamp", "date", "boolean")


@dataclass(frozen=True)
class Query:
    """SQL with psycopg %(name)s placeholders; its column names become the file's header."""

    sql: str
    params: Mapping[str, Any]
    # The session's time zone while the query runs: it renders timestamps in it.
    timezone: str = "UTC"
    # For formats that print a cover (PDF): the report's title and its parameters as shown.
    title: str = ""
    summary: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # one of COLUMN_TYPES
    description: str

    def __post_init__(self) -> None:
        if self.type not in COLUMN_TYPES:
            raise ValueError(f"column {self.name}: type must be one of {COLUMN_TYPES}")


@dataclass(frozen=True)
class ReportType:
    """One entry of the catalog. build_query returns every declared column, in order; the
    standard parameters (columns, timezone) are applied around it, never by the type."""

    name: str
    title: str
    description: str
    roles: frozenset[str]
    columns: tuple[Column, ...]
    parameters_schema: type[InputSchema]
    build_query: Callable[[str, Parameters], Query]
    formats: tuple[str, ...] = EXPORT_FORMATS
    # The parameters (attribute names) that bound the report's range: they name the file.
    range_parameters: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        clash = set(self.parameters_schema().fields) & set(STANDARD_FIELDS)
        if clash:
            raise ValueError(f"{self.name}: parameters {sorted(clash)} are standard ones")
        unknown = set(self.formats) - set(EXPORT_FORMATS)
        if unknown:
            raise ValueError(f"{self.name}: unknown formats {sorted(unknown)}")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    @cached_property
    def schema_class(self) -> type[InputSchema]:
        """The type's own parameters plus the standard ones: what is validated and listed."""
        return standard_schema(self.parameters_schema, self.column_names)

    @cached_property
    def range_fields(self) -> tuple[str, str] | None:
        """The JSON names of the range parameters (fromDate, toDate): what a period fills."""
        if self.range_parameters is None:
            return None
        fields_by_name = self._schema.fields
        start, end = (fields_by_name[name].data_key or name for name in self.range_parameters)
        return start, end

    @cached_property
    def _schema(self) -> InputSchema:
        return self.schema_class()

    def load_parameters(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Validated, typed parameters; raises marshmallow.ValidationError."""
        parameters: dict[str, Any] = self._schema.load(raw)
        return parameters

    def dump_parameters(self, parameters: Parameters) -> dict[str, Any]:
        """The canonical JSON form that is stored with the report."""
        dumped: dict[str, Any] = self._schema.dump(parameters)
        return dumped

    def query(self, org: str, raw_parameters: Mapping[str, Any]) -> Query:
        return self.query_for(org, self.load_parameters(raw_parameters))

    def query_for(self, org: str, parameters: Parameters) -> Query:
        """The type's query with the chosen columns, in the chosen order, in the chosen zone."""
        built = self.build_query(org, parameters)
        chosen = ", ".join(quote_identifier(name) for name in parameters["columns"])
        shown = self.dump_parameters(parameters)
        return replace(
            built,
            sql=f"SELECT {chosen} FROM ({built.sql}\n) AS chosen",
            timezone=parameters["timezone"],
            title=self.title,
            summary=tuple((key, _shown(value)) for key, value in shown.items()),
        )

    def file_name(self, parameters: Parameters, extension: str) -> str:
        """e.g. sessions-2026-01-01-2026-01-31.csv: the type, then its range when it has one."""
        parts = [self.name]
        if self.range_parameters is not None:
            start, end = (parameters.get(key) for key in self.range_parameters)
            if start is not None and end is not None:
                parts += [start.isoformat(), end.isoformat()]
            elif start is not None:
                parts += ["from", start.isoformat()]
            elif end is not None:
                parts += ["to", end.isoformat()]
        return f"{'-'.join(parts)}.{extension}"


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _shown(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value)
    return str(value)


def country_code(**kwargs: Any) -> fields.String:
    return fields.String(
        validate=FullMatch(r"[A-Z]{2}", error="must be an ISO 3166 two-letter code"),
        **kwargs,
    )


def start_of_day(day: date, timezone: str) -> datetime:
    """Midnight in the report's time zone (a day across a DST change is 23 or 25 hours)."""
    return datetime.combine(day, time.min, ZoneInfo(timezone))


def end_of_day_exclusive(day: date, timezone: str) -> datetime:
    """Inclusive date ranges end at the next midnight in the report's time zone."""
    return start_of_day(day + timedelta(days=1), timezone)


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
    """fromDate and toDate (ISO dates, inclusive, in the report's time zone) over
    demo.sessions, at most a year."""

    MAX_DAYS = 366

    from_date = report_date(required=True, data_key="fromDate")
    to_date = report_date(required=True, data_key="toDate")

    @validates_schema
    def _range(self, data: dict[str, Any], **_: object) -> None:
        check_date_range(
            data.get("from_date"), data.get("to_date"), "fromDate", "toDate", self.MAX_DAYS
        )


def sessions_in_window(org: str, parameters: Parameters) -> Where:
    """The org's sessions (alias s) started within the window; served by sessions_org_started."""
    where = Where()
    where.add(
        "s.org = %(org)s AND s.started_at >= %(start)s AND s.started_at < %(end)s",
        org=org,
        start=start_of_day(parameters["from_date"], parameters["timezone"]),
        end=end_of_day_exclusive(parameters["to_date"], parameters["timezone"]),
    )
    return where

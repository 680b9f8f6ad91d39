"""A report whose query sleeps on the server before its only row: an export that cannot finish
before a signal, a cancel or a deadline, whatever the size of the data."""

from __future__ import annotations

from marshmallow import fields, validate

from shared.catalog.base import Column, Parameters, Query, ReportType
from shared.inputs import InputSchema


class SleepyParameters(InputSchema):
    seconds = fields.Float(load_default=60.0, validate=validate.Range(min=0, max=3600))


def build_query(org: str, parameters: Parameters) -> Query:
    sql = "SELECT %(org)s AS org, 1 AS n FROM pg_sleep(%(seconds)s)"
    return Query(sql, {"org": org, "seconds": parameters["seconds"]})


REPORT_TYPE = ReportType(
    name="sleepy",
    title="Sleeps, then one row",
    description="For tests: the query sleeps for `seconds` on the server.",
    roles=frozenset({"analyst", "admin"}),
    columns=(Column("org", "string", "The caller's org."), Column("n", "integer", "Always 1.")),
    formats=("csv",),
    parameters_schema=SleepyParameters,
    build_query=build_query,
)

"""A report whose query builder raises what no export expects: a bug, not a passing fault."""

from __future__ import annotations

from shared.catalog.base import Column, Parameters, Query, ReportType
from shared.inputs import InputSchema


class BrokenParameters(InputSchema):
    pass


def build_query(org: str, parameters: Parameters) -> Query:
    raise OverflowError("date value out of range")  # what 9999-12-31 + 1 day used to raise


REPORT_TYPE = ReportType(
    name="broken",
    title="Always raises",
    description="For tests: building its query raises OverflowError.",
    roles=frozenset({"analyst", "admin"}),
    columns=(Column("n", "integer", "Never produced."),),
    formats=("csv",),
    parameters_schema=BrokenParameters,
    build_query=build_query,
)

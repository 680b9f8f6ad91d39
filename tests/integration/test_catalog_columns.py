"""Each shipped report type's query returns exactly the columns its catalog entry declares."""

from __future__ import annotations

import pytest

from shared.catalog import get_report_type
from worker.formats import cells
from worker.source import export_cursor

# The smallest parameters each type accepts.
PARAMETERS = {
    "sessions": {"fromDate": "2026-01-01", "toDate": "2026-01-01"},
    "users": {},
    "popularity": {"fromDate": "2026-01-01", "toDate": "2026-01-01"},
}

# What PostgreSQL types each declared column type may come as.
DECLARED = {
    "integer": cells.INTEGERS,
    "number": cells.NUMBERS,
    "string": {25, 1043, 1042},
    "timestamp": {cells.TIMESTAMP, cells.TIMESTAMPTZ},
    "date": {cells.DATE},
    "boolean": {cells.BOOLEAN},
}


@pytest.mark.parametrize("name", sorted(PARAMETERS))
def test_the_query_returns_the_declared_columns_in_order_and_of_their_type(engine, name):
    report_type = get_report_type(name)
    built = report_type.build_query("acme", report_type.load_parameters(PARAMETERS[name]))

    with export_cursor(engine, 60_000) as cursor:
        columns = cells.describe(cursor, built)

    assert [column.name for column in columns] == list(report_type.column_names)
    for column, declared in zip(columns, report_type.columns, strict=True):
        assert column.type_oid in DECLARED[declared.type], (name, column, declared)


def test_a_chosen_subset_comes_in_the_order_asked(engine):
    query = get_report_type("users").query("acme", {"columns": ["plan", "user_id"]})

    with export_cursor(engine, 60_000) as cursor:
        assert [column.name for column in cells.describe(cursor, query)] == ["plan", "user_id"]

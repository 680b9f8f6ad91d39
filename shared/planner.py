"""The planner's row estimate of a report query: free, and close enough for a progress bar and
for refusing a PDF that would be far too long before anything runs."""

from __future__ import annotations

from shared.catalog import Query
from shared.db import Cursor


def estimate_rows(cursor: Cursor, query: Query) -> int:
    cursor.execute(f"EXPLAIN (FORMAT JSON) {query.sql}", query.params)
    row = cursor.fetchone()
    if row is None:
        raise ValueError("EXPLAIN answered no plan")  # it always answers one row
    plan = row[0]
    return max(int(plan[0]["Plan"]["Plan Rows"]), 0)

"""Column widths, in characters, from the header and a sample of the first rows.

A sheet's column widths and a PDF's column layout come before the rows, so they cannot wait
for the longest value: the first SAMPLE_ROWS rows stand for the rest.
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
from psycopg import sql

from shared.catalog import Query
from worker.formats import cells

SAMPLE_ROWS = 1000

SAMPLE = sql.SQL("SELECT {} FROM (SELECT * FROM ({}\n) AS q LIMIT {}) AS q")


def sampled_widths(
    cursor: psycopg.Cursor, query: Query, columns: Sequence[cells.Column]
) -> list[int]:
    """The longest of each column's header and sampled values (as the text formats show
    them), in characters."""
    if not columns:
        return []
    render = cells.as_text(query.timezone)
    lengths = [
        sql.SQL("coalesce(max(char_length({})), 0)").format(render(column)) for column in columns
    ]
    cursor.execute(
        SAMPLE.format(sql.SQL(", ").join(lengths), sql.SQL(query.sql), sql.Literal(SAMPLE_ROWS)),
        query.params,
    )
    values = cursor.fetchone() or [0] * len(columns)
    return [
        max(len(column.name), int(value)) for column, value in zip(columns, values, strict=True)
    ]

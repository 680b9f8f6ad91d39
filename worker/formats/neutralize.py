"""Formula neutralisation (OWASP "CSV injection"), done in SQL so that COPY still writes the file.

A spreadsheet runs a cell that starts with = + - @ (or a tab or carriage return before one) as
a formula. Prefixing such a cell with a single quote makes it show as text. Only text columns
are touched: a negative number is a number, not a formula.
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
from psycopg import sql

from shared.catalog import Query
from worker.formats import cells

# The text types by pg_type oid, and the name to cast a neutralised cell back to.
TEXT_TYPES = {25: "text", 1043: "varchar", 1042: "bpchar"}

# ascii() is the code of the first character (0 for '', NULL for NULL): = + - @ tab CR.
# A regex per cell cost about a fifth of a whole-year CSV export in the server. concat()
# and the cast back keep the cell's type, so COPY prints it as before (char(n) keeps its
# padding); a NULL stays NULL because NULL IN (...) is not true.
NEUTRALIZED_CELL = sql.SQL(
    "CASE WHEN ascii({column}) IN (61, 43, 45, 64, 9, 13) "
    "THEN concat('''', {column})::{type} ELSE {column} END"
)
NEUTRALIZED_COLUMN = sql.SQL(NEUTRALIZED_CELL.as_string() + " AS {name}")


def describe(cursor: psycopg.Cursor, query: Query) -> list[tuple[str, int]]:
    """The query's output columns as (name, type oid), without fetching a row."""
    return [(column.name, column.type_oid) for column in cells.describe(cursor, query)]


def neutralized_cell(column: cells.Column) -> sql.Composable | None:
    """The neutralising expression for a text column; None for any other type."""
    type_name = TEXT_TYPES.get(column.type_oid)
    if type_name is None:
        return None
    return NEUTRALIZED_CELL.format(column=column.ref, type=sql.SQL(type_name))


def neutralized(query_sql: str, columns: Sequence[tuple[str, int]]) -> sql.Composed:
    """query_sql wrapped so that a text cell that starts like a formula gets a leading '.

    Column names and order stay as they were, so the CSV header does not change.
    """
    outputs = []
    for name, type_oid in columns:
        column, alias = sql.Identifier("q", name), sql.Identifier(name)
        type_name = TEXT_TYPES.get(type_oid)
        if type_name is None:
            outputs.append(sql.SQL("{} AS {}").format(column, alias))
        else:
            outputs.append(
                NEUTRALIZED_COLUMN.format(column=column, type=sql.SQL(type_name), name=alias)
            )
    return sql.SQL("SELECT {} FROM ({}\n) AS q").format(
        sql.SQL(", ").join(outputs), sql.SQL(query_sql)
    )

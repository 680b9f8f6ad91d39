"""SQL that renders a query's cells the way a format wants them, so PostgreSQL does the work.

Every format wraps the report query as SELECT <one expression per column> FROM (query) AS q;
the expressions depend on each column's type, which describe() reads without fetching a row.
Timestamps are rendered in RFC 3339 in the session's time zone (the export sets it from the
report's `timezone` parameter): 2026-01-01T00:03:55Z in UTC, 2026-03-29T03:00:00+02:00 in
Europe/Berlin, with fractions of a second only when there are some.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import psycopg
from psycopg import sql

from shared.catalog import Query

# pg_type oids by what the formats make of them.
BOOLEAN = 16
DATE = 1082
TIMESTAMP = 1114
TIMESTAMPTZ = 1184
INTEGERS = frozenset({20, 21, 23, 26})  # int8, int2, int4, oid
DECIMALS = frozenset({700, 701, 1700})  # float4, float8, numeric
NUMBERS = INTEGERS | DECIMALS


@dataclass(frozen=True)
class Column:
    name: str
    type_oid: int

    @property
    def ref(self) -> sql.Identifier:
        return sql.Identifier("q", self.name)


def describe(cursor: psycopg.Cursor, query: Query) -> list[Column]:
    """The query's output columns, without fetching a row."""
    cursor.execute(
        sql.SQL("SELECT * FROM ({}\n) AS q LIMIT 0").format(sql.SQL(query.sql)), query.params
    )
    return [Column(column.name, column.type_code) for column in cursor.description or ()]


Render = Callable[[Column], sql.Composable]


def projected(query: Query, columns: Sequence[Column], render: Render) -> sql.Composed:
    """query wrapped so that each column is render(column), keeping names and order."""
    outputs = [
        sql.SQL("{} AS {}").format(render(column), sql.Identifier(column.name))
        for column in columns
    ]
    return sql.SQL("SELECT {} FROM ({}\n) AS q").format(
        sql.SQL(", ").join(outputs), sql.SQL(query.sql)
    )


def rfc3339(column: Column, timezone: str) -> sql.Composable:
    """A timestamp column as RFC 3339 text (NULL stays NULL).

    PostgreSQL's own text output of a timestamp (DateStyle ISO, the default) is RFC 3339
    but for the space before the time and the offset: it shows fractions of a second only
    when there are some. Replacing the space is several times cheaper than to_char().
    """
    if column.type_oid != TIMESTAMPTZ:
        return sql.SQL("replace({}::text, ' ', 'T')").format(column.ref)  # no offset to show
    if timezone == "UTC":
        return sql.SQL("replace(({} AT TIME ZONE 'UTC')::text, ' ', 'T') || 'Z'").format(column.ref)
    # The wall-clock time in the session's zone, then its offset there as +01:00.
    return sql.SQL("replace({c}::timestamp::text, ' ', 'T') || to_char({c}, 'TZH:TZM')").format(
        c=column.ref
    )


def is_timestamp(column: Column) -> bool:
    return column.type_oid in (TIMESTAMP, TIMESTAMPTZ)


def as_is_or_rfc3339(timezone: str) -> Render:
    """Timestamps as RFC 3339 text, everything else untouched."""

    def render(column: Column) -> sql.Composable:
        return rfc3339(column, timezone) if is_timestamp(column) else column.ref

    return render


def as_text(timezone: str) -> Render:
    """Every cell as text (NULL stays NULL); timestamps in RFC 3339."""

    def render(column: Column) -> sql.Composable:
        if is_timestamp(column):
            return rfc3339(column, timezone)
        return sql.SQL("{}::text").format(column.ref)

    return render

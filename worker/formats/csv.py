"""CSV (RFC 4180, UTF-8, header row), written by PostgreSQL's own COPY."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
from psycopg import sql

from shared.catalog import Query
from worker.formats import cells
from worker.formats.base import RowCounter
from worker.formats.copying import copy_chunks
from worker.formats.neutralize import neutralized_cell

COPY_CSV = sql.SQL("COPY ({}\n) TO STDOUT WITH (FORMAT csv, HEADER, ENCODING 'UTF8')")


class CsvFormat:
    name = "csv"
    extension = "csv"
    content_type = "text/csv; charset=utf-8"

    def __init__(self, neutralize: bool = True) -> None:
        self.neutralize = neutralize  # text cells that start like a formula get a leading '

    def statement(self, cursor: psycopg.Cursor, query: Query) -> sql.Composed:
        """The COPY that writes the whole file: header, then one line per row."""
        timestamps = cells.as_is_or_rfc3339(query.timezone)

        def render(column: cells.Column) -> sql.Composable:
            neutral = neutralized_cell(column) if self.neutralize else None
            return neutral if neutral is not None else timestamps(column)

        source = cells.projected(query, cells.describe(cursor, query), render)
        return COPY_CSV.format(source)

    def stream(self, cursor: psycopg.Cursor, query: Query, counter: RowCounter) -> Iterator[bytes]:
        # COPY formats and quotes in the server: several times faster than csv.writer here.
        statement = self.statement(cursor, query)
        yield from copy_chunks(cursor, statement, query.params, counter, header_rows=1)

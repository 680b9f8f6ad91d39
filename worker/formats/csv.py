"""CSV (RFC 4180, UTF-8, header row), written by PostgreSQL's own COPY."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
from psycopg import sql

from shared.catalog import Query
from worker.formats.base import RowCounter
from worker.formats.neutralize import describe, neutralized

COPY_CSV = sql.SQL("COPY ({}\n) TO STDOUT WITH (FORMAT csv, HEADER, ENCODING 'UTF8')")


class CsvFormat:
    name = "csv"
    extension = "csv"
    content_type = "text/csv; charset=utf-8"

    def __init__(self, neutralize: bool = True) -> None:
        self.neutralize = neutralize  # text cells that start like a formula get a leading '

    def stream(self, cursor: psycopg.Cursor, query: Query, counter: RowCounter) -> Iterator[bytes]:
        source: sql.Composable = sql.SQL(query.sql)
        if self.neutralize:
            source = neutralized(query.sql, describe(cursor, query))
        # COPY formats and quotes in the server: several times faster than csv.writer here.
        with cursor.copy(COPY_CSV.format(source), query.params) as copy:
            for chunk in copy:
                # One COPY data message is one row; embedded newlines do not split it.
                counter.rows_processed += 1
                yield chunk
        counter.rows_processed = max(cursor.rowcount, 0)

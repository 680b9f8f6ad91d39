"""CSV (RFC 4180, UTF-8, header row), written by PostgreSQL's own COPY."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
from psycopg import sql

from shared.catalog import Query
from worker.formats.base import RowCounter
from worker.formats.neutralize import describe, neutralized

CHUNK_BYTES = 256 * 1024  # what the format hands on at a time

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
            # COPY sends one message per row (the first is the header). Gathering them into
            # chunks keeps the per-row work to an append: everything downstream (progress,
            # cancel checks, the upload buffer) runs once per chunk.
            buffer = bytearray()
            rows = -1
            for row in copy:
                buffer += row
                rows += 1
                if len(buffer) >= CHUNK_BYTES:
                    counter.rows_processed = rows
                    yield bytes(buffer)
                    buffer.clear()
            if buffer:
                yield bytes(buffer)
        counter.rows_processed = max(cursor.rowcount, 0)

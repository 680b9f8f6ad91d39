"""Reading a COPY ... TO STDOUT in chunks: the per-row work is one append."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import psycopg
from psycopg import sql

from worker.formats.base import RowCounter

CHUNK_BYTES = 256 * 1024  # what a format hands on at a time

# One text column out, verbatim: CSV format quotes a field only when it holds the delimiter,
# the quote character, CR or LF, and text format would double every backslash. Callers make
# sure their text holds no control character (JSON escapes them; the XML writer encodes
# them), so with these two control characters as delimiter and quote nothing is ever quoted.
VERBATIM = sql.SQL(
    "COPY ({}\n) TO STDOUT WITH (FORMAT csv, DELIMITER E'\\x02', QUOTE E'\\x01', ENCODING 'UTF8')"
)


def copy_chunks(
    cursor: psycopg.Cursor,
    statement: sql.Composed,
    params: Mapping[str, Any],
    counter: RowCounter,
    header_rows: int = 0,
) -> Iterator[bytes]:
    """The COPY's output in chunks of about CHUNK_BYTES, counting data rows as they go by."""
    with cursor.copy(statement, params) as copy:
        # COPY sends one message per row. Gathering them into chunks keeps the per-row work
        # to an append: everything downstream (progress, cancel checks, the upload buffer,
        # compression) runs once per chunk.
        buffer = bytearray()
        rows = -header_rows
        for row in copy:
            buffer += row
            rows += 1
            if len(buffer) >= CHUNK_BYTES:
                counter.rows_processed = max(rows, 0)
                yield bytes(buffer)
                buffer.clear()
        if buffer:
            yield bytes(buffer)
    counter.rows_processed = max(cursor.rowcount, 0)

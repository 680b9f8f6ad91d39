"""JSON Lines and JSON, with the objects made by PostgreSQL's row_to_json.

Numbers stay numbers, NULL is null, and row_to_json escapes every control character, so
the lines pass through COPY verbatim (see copying.VERBATIM). Timestamps are RFC 3339
strings in the report's time zone.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
from psycopg import sql

from shared.catalog import Query
from worker.formats import cells
from worker.formats.base import RowCounter
from worker.formats.copying import VERBATIM, copy_chunks

# Each row is ",{...}\n"; the array writer turns the very first comma into "[".
OBJECTS = sql.SQL("SELECT {prefix} || row_to_json(r)::text FROM ({rows}\n) AS r")


def objects(cursor: psycopg.Cursor, query: Query, prefix: str) -> sql.Composed:
    rows = cells.projected(
        query, cells.describe(cursor, query), cells.as_is_or_rfc3339(query.timezone)
    )
    return VERBATIM.format(OBJECTS.format(prefix=sql.Literal(prefix), rows=rows))


class JsonLinesFormat:
    name = "jsonl"
    extension = "jsonl"
    content_type = "application/jsonl"

    def stream(self, cursor: psycopg.Cursor, query: Query, counter: RowCounter) -> Iterator[bytes]:
        yield from copy_chunks(cursor, objects(cursor, query, ""), query.params, counter)


class JsonArrayFormat:
    """One array, streamed: never built in memory.

    [{"a":1}
    ,{"a":2}
    ]
    """

    name = "json"
    extension = "json"
    content_type = "application/json"

    def stream(self, cursor: psycopg.Cursor, query: Query, counter: RowCounter) -> Iterator[bytes]:
        chunks = copy_chunks(cursor, objects(cursor, query, ","), query.params, counter)
        first = next(chunks, None)
        if first is None:
            yield b"[]\n"
            return
        yield b"[" + first[1:]
        yield from chunks
        yield b"]\n"

"""The interface every file format implements."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import psycopg

from shared.catalog import Query


class RowCounter(Protocol):
    rows_processed: int


class ExportFormat(Protocol):
    name: str
    extension: str
    content_type: str

    def stream(self, cursor: psycopg.Cursor, query: Query, counter: RowCounter) -> Iterator[bytes]:
        """Run the query and yield the file's bytes in order, updating counter.rows_processed as
        rows go by. Must not hold more than a chunk in memory."""
        ...

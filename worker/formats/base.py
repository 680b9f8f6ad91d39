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
        rows go by. Must not hold more than a chunk in memory. May yield b"" while it works
        without output yet, so that the caller can check between two chunks whether the
        export is still wanted. The session's time zone is the query's."""
        ...


class ExportRefused(Exception):
    """The format cannot write this report (e.g. more rows than a PDF may hold): final."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

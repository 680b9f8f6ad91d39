"""The export's session on the source database: read-only, in the report's time zone, with the
export's own time limit, and a query that another thread can cancel."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg
from psycopg import sql
from sqlalchemy import Engine

from shared.db import translate_errors
from shared.planner import estimate_rows

__all__ = ["cancel_running_query", "estimate_rows", "export_cursor"]

CANCEL_TIMEOUT = 5.0  # seconds to deliver a cancel request to the server


@contextlib.contextmanager
def export_cursor(
    engine: Engine, statement_timeout_ms: int, timezone: str = "UTC"
) -> Iterator[psycopg.Cursor]:
    """A raw psycopg cursor in a read-only transaction that is rolled back at the end.

    Raw, because COPY TO STDOUT streams only through the driver. The connection's own
    statement timeout is short; this transaction may take as long as an export may.
    """
    timeout_ms = max(int(statement_timeout_ms), 1)  # 0 would mean none
    with translate_errors(), engine.connect() as connection:
        driver = connection.connection.driver_connection
        try:
            with driver.cursor() as cursor:
                cursor.execute("SET TRANSACTION READ ONLY")
                cursor.execute(sql.SQL("SET LOCAL TIME ZONE {}").format(sql.Literal(timezone)))
                # The formats render timestamps from PostgreSQL's text: ISO, whatever the
                # server's or the role's default style is.
                cursor.execute("SET LOCAL DateStyle = 'ISO, YMD'")
                cursor.execute(sql.SQL("SET LOCAL statement_timeout = {}").format(timeout_ms))
                yield cursor
        finally:
            try:
                driver.rollback()
            except psycopg.Error:
                pass  # a broken connection is discarded by the pool


def cancel_running_query(cursor: psycopg.Cursor) -> None:
    """Ask the server to cancel what the cursor's connection runs now; safe from any thread."""
    cursor.connection.cancel_safe(timeout=CANCEL_TIMEOUT)

"""The export's session on the source database: read-only, in the report's time zone, with the
export's own time limit, and a query that another thread can cancel.

The COPY path's edge: what the formats run with the cursor leaves export_cursor() as
shared.db's QueryCancelled, QueryFailed or DatabaseUnavailable, never as a driver error.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from psycopg import sql
from sqlalchemy import Engine

from shared.db import Cursor, driver_cursor, translate_query_errors
from shared.planner import estimate_rows

__all__ = ["cancel_running_query", "estimate_rows", "export_cursor"]

CANCEL_TIMEOUT = 5.0  # seconds to deliver a cancel request to the server


@contextlib.contextmanager
def export_cursor(
    engine: Engine, statement_timeout_ms: int, timezone: str = "UTC"
) -> Iterator[Cursor]:
    """A raw psycopg cursor in a read-only transaction that is rolled back at the end.

    Raw, because COPY TO STDOUT streams only through the driver. The connection's own
    statement timeout is short; this transaction may take as long as an export may.
    """
    timeout_ms = max(int(statement_timeout_ms), 1)  # 0 would mean none
    with driver_cursor(engine) as cursor:
        # One round trip for the four settings (without parameters psycopg sends
        # them as one simple query): each export of a small report pays it.
        # DateStyle: the formats render timestamps from PostgreSQL's text: ISO,
        # whatever the server's or the role's default style is.
        cursor.execute(
            sql.SQL(
                "SET TRANSACTION READ ONLY; SET LOCAL TIME ZONE {};"
                " SET LOCAL DateStyle = 'ISO, YMD'; SET LOCAL statement_timeout = {}"
            ).format(sql.Literal(timezone), timeout_ms)
        )
        with translate_query_errors():
            yield cursor


def cancel_running_query(cursor: Cursor) -> None:
    """Ask the server to cancel what the cursor's connection runs now; safe from any thread."""
    cursor.connection.cancel_safe(timeout=CANCEL_TIMEOUT)

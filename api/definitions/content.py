"""A `sync` definition's file, built within the request by the worker's own format writers.

Bounded twice: the planner's estimate refuses a report that is clearly too long before
anything runs, and the query itself is limited to one row over SYNC_MAX_ROWS, so a wrong
estimate costs at most that many rows before the refusal. The export transaction's
statement_timeout is SYNC_TIMEOUT_SECONDS: the server stops a query that takes longer.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Engine

from shared.catalog import ReportType
from shared.db import QueryCancelled
from shared.errors import InvalidParameters, SyncTimedOut, TooManyRowsForSync
from worker.formats import ExportFormat, ExportRefused
from worker.source import estimate_rows, export_cursor


@dataclass(frozen=True)
class Content:
    body: bytes
    content_type: str
    file_name: str
    rows: int


class _RowCounter:
    rows_processed = 0


def build_content(
    source: Engine,
    export_format: ExportFormat,
    report_type: ReportType,
    org: str,
    parameters: dict[str, Any],
    max_rows: int,
    timeout_seconds: float,
) -> Content:
    """The report's whole file in memory (at most max_rows rows), or TooManyRowsForSync,
    SyncTimedOut."""
    loaded = report_type.load_parameters(parameters)
    query = report_type.query_for(org, loaded)
    capped = replace(query, sql=f"{query.sql}\nLIMIT {max_rows + 1}")
    counter = _RowCounter()
    body = bytearray()
    try:
        with export_cursor(source, int(timeout_seconds * 1000), query.timezone) as cursor:
            estimate = estimate_rows(cursor, query)
            if estimate > max_rows:
                raise TooManyRowsForSync(max_rows, estimate)
            for chunk in export_format.stream(cursor, capped, counter):
                body += chunk
                if counter.rows_processed > max_rows:
                    raise TooManyRowsForSync(max_rows)
    except QueryCancelled as exc:  # the statement_timeout: nothing else cancels this query
        raise SyncTimedOut(timeout_seconds) from exc
    except ExportRefused as refused:  # e.g. more rows than a PDF may hold
        raise InvalidParameters(refused.message, {"format": [refused.message]}) from refused
    if counter.rows_processed > max_rows:  # a file shorter than one chunk is counted at its end
        raise TooManyRowsForSync(max_rows)
    return Content(
        bytes(body),
        export_format.content_type,
        report_type.file_name(loaded, export_format.extension),
        counter.rows_processed,
    )

"""A `sync` definition's file, built within the request by the worker's own format writers.

Bounded twice: the planner's estimate refuses a report that is clearly too long before
anything runs, and the query itself is limited to one row over SYNC_MAX_ROWS, so a wrong
estimate costs at most that many rows before the refusal. The export transaction's
statement_timeout is SYNC_TIMEOUT_SECONDS: the server stops a query that takes longer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import psycopg
from sqlalchemy import Engine

from api.definitions.errors import InvalidDefinition, SyncTimedOut, TooManyRowsForSync
from api.definitions.service import Run
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
    formats: Mapping[str, ExportFormat],
    org: str,
    run: Run,
    max_rows: int,
    timeout_seconds: float,
) -> Content:
    """The run's whole file in memory (at most max_rows rows), or TooManyRowsForSync,
    SyncTimedOut."""
    export_format = formats[run.format]
    parameters = run.report_type.load_parameters(run.parameters)
    query = run.report_type.query_for(org, parameters)
    capped = replace(query, sql=f"{query.sql}\nLIMIT {max_rows + 1}")
    counter = _RowCounter()
    body = bytearray()
    with export_cursor(source, int(timeout_seconds * 1000), query.timezone) as cursor:
        # Inside the cursor's block: export_cursor would take a cancel (an OperationalError
        # to psycopg) for a lost database.
        try:
            estimate = estimate_rows(cursor, query)
            if estimate > max_rows:
                raise TooManyRowsForSync(max_rows, estimate)
            for chunk in export_format.stream(cursor, capped, counter):
                body += chunk
                if counter.rows_processed > max_rows:
                    raise TooManyRowsForSync(max_rows)
        except psycopg.errors.QueryCanceled as exc:  # the statement_timeout: nothing else cancels
            raise SyncTimedOut(timeout_seconds) from exc
        except ExportRefused as refused:  # e.g. more rows than a PDF may hold
            raise InvalidDefinition({"format": [refused.message]}, refused.message) from refused
    if counter.rows_processed > max_rows:  # a file shorter than one chunk is counted at its end
        raise TooManyRowsForSync(max_rows)
    return Content(
        bytes(body),
        export_format.content_type,
        run.report_type.file_name(parameters, export_format.extension),
        counter.rows_processed,
    )

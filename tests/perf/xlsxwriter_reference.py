"""python -m tests.perf.xlsxwriter_reference REPORT_TYPE ORG PARAMETERS_JSON: the xlsx reference.

XlsxWriter in constant_memory mode writes the report's rows, read from a server-side cursor,
to a temporary file, each cell with its typed write_*() as a careful writer would: what the
worker's xlsx writer is measured against. Prints JSON like export_once.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from datetime import datetime
from typing import Any

import psycopg
import xlsxwriter

from shared.catalog import get_report_type
from shared.config import Settings
from shared.db import libpq_url
from tests.perf.export_once import peak_rss_kb

ITERSIZE = 10_000


def main() -> None:
    report_type = get_report_type(sys.argv[1])
    query = report_type.query(sys.argv[2], json.loads(sys.argv[3]))
    settings = Settings.from_env()
    started = time.perf_counter()
    rows = 0
    with (
        tempfile.NamedTemporaryFile(suffix=".xlsx") as output,
        psycopg.connect(libpq_url(settings.source_database_url)) as connection,
    ):
        connection.execute(f"SET TIME ZONE '{query.timezone}'")
        workbook = xlsxwriter.Workbook(output.name, {"constant_memory": True})
        sheet = workbook.add_worksheet()
        bold = workbook.add_format({"bold": True})
        date_format = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        with connection.cursor(name="reference") as cursor:
            cursor.itersize = ITERSIZE
            cursor.execute(query.sql, query.params)
            writers: list[Any] = []
            for row in cursor:
                if not writers:
                    names = [column.name for column in cursor.description]
                    sheet.write_row(0, 0, names, bold)
                    sheet.freeze_panes(1, 0)
                    writers = [_writer(sheet, value, date_format) for value in row]
                rows += 1
                for column, (write, value) in enumerate(zip(writers, row, strict=True)):
                    write(rows, column, value)
        workbook.close()
        size = output.seek(0, 2)
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "seconds": round(seconds, 3),
                "rows": rows,
                "bytes": size,
                "max_rss_kb": peak_rss_kb(),
            }
        )
    )


def _writer(sheet: Any, sample: Any, date_format: Any) -> Any:
    """The typed write for a column, chosen once from its first value."""
    if isinstance(sample, datetime):
        return lambda row, column, value: sheet.write_datetime(
            row, column, value.replace(tzinfo=None), date_format
        )
    if isinstance(sample, int | float):
        return sheet.write_number
    return sheet.write_string


if __name__ == "__main__":
    main()

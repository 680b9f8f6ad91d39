"""Reading the produced files back with real readers, for the format tests at every level."""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
from openpyxl.utils.escape import unescape
from pypdf import PdfReader


def read_rows(format_name: str, body: bytes) -> tuple[list[str], list[list[Any]]]:
    """(header, rows) as each format's own reader gives them (the PDF: see pdf_cells)."""
    if format_name in ("csv", "csv.gz"):
        text = (gzip.decompress(body) if format_name == "csv.gz" else body).decode()
        header, *rows = csv.reader(io.StringIO(text, newline=""))
        return header, rows
    if format_name == "jsonl":
        objects = [json.loads(line) for line in body.decode().splitlines()]
        return _from_objects(objects)
    if format_name == "json":
        return _from_objects(json.loads(body))
    if format_name == "xlsx":
        return xlsx_rows(body)
    raise ValueError(format_name)


def _from_objects(objects: list[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    header = list(objects[0]) if objects else []
    return header, [list(item.values()) for item in objects]


def xlsx_rows(body: bytes) -> tuple[list[str], list[list[Any]]]:
    """Every sheet's data rows in order; each sheet must start with the same header."""
    workbook = openpyxl.load_workbook(io.BytesIO(body), read_only=True)
    header: list[str] | None = None
    rows: list[list[Any]] = []
    for sheet in workbook.worksheets:
        values = [[_xlsx_value(v) for v in row] for row in sheet.iter_rows(values_only=True)]
        if header is None:
            header = values[0]
        assert values[0] == header, "every sheet repeats the header"
        rows.extend(values[1:])
    workbook.close()
    return header or [], rows


def _xlsx_value(value: Any) -> Any:
    # OOXML's _xHHHH_ escape, which openpyxl leaves as it is (Excel and LibreOffice decode it).
    return unescape(value) if isinstance(value, str) else value


def pdf_pages(body: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(body)).pages]


PAGE_FOOTER = re.compile(r"page (\d+) of (\d+)")


def pdf_cells(body: bytes, header: list[str]) -> list[list[str]]:
    """The table's rows: pypdf gives each drawn cell as a line, page by page, after the
    repeated header; the cover lines before the first header and the footer are skipped."""
    cells: list[str] = []
    pages = pdf_pages(body)
    for number, text in enumerate(pages, start=1):
        lines = text.strip("\n").split("\n")
        start = _index_of(lines, header)
        assert start is not None, f"page {number} repeats the header"
        footer = PAGE_FOOTER.fullmatch(lines[-1].strip())
        assert footer and footer.groups() == (str(number), str(len(pages))), lines[-1]
        cells.extend(lines[start + len(header) : -1])
    width = len(header)
    assert len(cells) % width == 0, "every row has every cell"
    return [cells[i : i + width] for i in range(0, len(cells), width)]


def _index_of(lines: list[str], header: list[str]) -> int | None:
    for i in range(len(lines) - len(header) + 1):
        if lines[i : i + len(header)] == header:
            return i
    return None


# ------------------------------------------- what the source query's values look like in each


def source_rows(cursor, query) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The report query's own header and rows, as psycopg returns them (its session's zone
    must be the query's)."""
    cursor.execute(query.sql, query.params)
    return [column.name for column in cursor.description], cursor.fetchall()


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _rfc3339(value: datetime, timezone: str) -> str:
    shown = value.astimezone(ZoneInfo(timezone)).isoformat()
    return shown[:-6] + "Z" if timezone == "UTC" and shown.endswith("+00:00") else shown


def shown_as(format_name: str, value: Any, timezone: str) -> Any:
    """value as format_name's reader gives it back, worked out independently of the writers."""
    if isinstance(value, datetime):
        if format_name == "xlsx":
            return value.astimezone(ZoneInfo(timezone)).replace(tzinfo=None)
        return _rfc3339(value, timezone)
    if isinstance(value, bool):
        return {"csv": "t" if value else "f", "pdf": "true" if value else "false"}.get(
            format_name.removesuffix(".gz"), value
        )
    if isinstance(value, int | Decimal):
        return str(value) if format_name in ("csv", "csv.gz", "pdf") else value
    if value is None:
        return "" if format_name in ("csv", "csv.gz", "pdf") else None
    if format_name in ("csv", "csv.gz") and str(value).startswith(FORMULA_START):
        return "'" + value
    return value


def assert_same_rows(format_name: str, body: bytes, query, header, rows) -> None:
    """The file holds exactly the query's rows and values, in order."""
    expected = [[shown_as(format_name, v, query.timezone) for v in row] for row in rows]
    if format_name == "pdf":
        got = pdf_cells(body, header)
        assert len(got) == len(expected)
        for cells, wanted in zip(got, expected, strict=True):
            for cell, value in zip(cells, wanted, strict=True):
                shown = " ".join(str(value).split("\n"))
                if cell.endswith("\u2026"):  # cut to the column's width
                    assert shown.startswith(cell[:-1]), (cell, shown)
                else:
                    assert cell == shown, (cells, wanted)
        return
    got_header, got = read_rows(format_name, body)
    if format_name not in ("jsonl", "json") or got:
        assert got_header == header
    assert len(got) == len(expected)
    for cells, wanted in zip(got, expected, strict=True):
        if format_name == "xlsx":
            assert all(_close(c, w) for c, w in zip(cells, wanted, strict=True)), (cells, wanted)
        elif format_name == "json" or format_name == "jsonl":
            assert cells == [float(w) if isinstance(w, Decimal) else w for w in wanted]
        else:
            assert cells == wanted


def _close(cell: Any, wanted: Any) -> bool:
    if isinstance(wanted, datetime):  # Excel keeps a date as a float number of days
        return isinstance(cell, datetime) and abs((cell - wanted).total_seconds()) < 0.001
    if isinstance(wanted, Decimal):
        return cell == float(wanted)
    return cell == wanted

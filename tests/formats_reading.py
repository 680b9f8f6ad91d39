"""Reading the produced files back with real readers, for the format tests at every level."""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from typing import Any

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

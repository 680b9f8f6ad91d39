"""pdf: a paginated table for reading, capped at PDF_MAX_ROWS rows.

PostgreSQL renders every cell as text (timestamps in RFC 3339) and counts the rows in the
same statement, over at most max_rows + 1 of them, so "page N of M" is known before the
first page and an over-long report is refused without reading it all. Each page is its
own reportlab Table (one long table gets quadratically slower); each page repeats the
header row, the first page also carries the title, the parameters and the generation time.
A cell's text is cut to its column's width with an ellipsis, never run off the page.

reportlab keeps the pages until it saves the document, so a PDF's memory grows with its
size: that is what the cap is for.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterator, Sequence
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import reportlab
from psycopg import sql
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Table, TableStyle

from shared.catalog import Query
from worker.formats import cells
from worker.formats.base import ExportRefused, RowCounter
from worker.formats.widths import sampled_widths

DEFAULT_MAX_ROWS = 50_000
PAGE = landscape(A4)
MARGIN = 36.0  # points: half an inch
FONT_SIZE = 7.5
ROW_HEIGHT = 11.0
HEADER_HEIGHT = 13.0
PADDING = 3.0  # points left and right of a cell's text
FOOTER_Y = 18.0
READ_BYTES = 1024 * 1024
ELLIPSIS = "\u2026"

# DejaVu Sans (Debian's fonts-dejavu-core, installed in the image) covers Latin, Greek,
# Cyrillic, Hebrew and Arabic; reportlab's own Vera, the fallback, covers Latin only.
FONT_CANDIDATES = (
    (
        Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
        Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
    ),
    (
        Path(reportlab.__file__).parent / "fonts" / "Vera.ttf",
        Path(reportlab.__file__).parent / "fonts" / "VeraBd.ttf",
    ),
)
REGULAR, BOLD = "ReportboxSans", "ReportboxSans-Bold"

ROWS = sql.SQL(
    "SELECT count(*) OVER () AS total, {cells}"
    " FROM (SELECT * FROM ({query}\n) AS q LIMIT {limit}) AS q"
)


class Fonts:
    """The registered font pair and what the regular one can show."""

    def __init__(self) -> None:
        for regular, bold in FONT_CANDIDATES:
            if regular.exists() and bold.exists():
                font = TTFont(REGULAR, str(regular))
                pdfmetrics.registerFont(font)
                pdfmetrics.registerFont(TTFont(BOLD, str(bold)))
                self.glyphs = frozenset(font.face.charToGlyph)
                return
        raise RuntimeError("no TrueType font for the PDF writer")

    def printable(self, text: str) -> str:
        """text as one line the font can draw: control characters become spaces, characters
        the font lacks become '?'."""
        if text.isascii() and text.isprintable():
            return text
        return "".join(
            " " if not char.isprintable() else (char if ord(char) in self.glyphs else "?")
            for char in text
        )


def fitted(text: str, width: float, font: str = REGULAR, size: float = FONT_SIZE) -> str:
    """text cut with an ellipsis so that it fits width points."""
    if text.isascii() and len(text) * size <= width:  # no ASCII glyph is wider than 1 em
        return text
    if pdfmetrics.stringWidth(text, font, size) <= width:
        return text
    low, high = 0, len(text)
    while low < high:  # the longest prefix that fits with the ellipsis
        middle = (low + high + 1) // 2
        if pdfmetrics.stringWidth(text[:middle] + ELLIPSIS, font, size) <= width:
            low = middle
        else:
            high = middle - 1
    return text[:low] + ELLIPSIS


class PdfFormat:
    name = "pdf"
    extension = "pdf"
    content_type = "application/pdf"

    def __init__(self, max_rows: int = DEFAULT_MAX_ROWS) -> None:
        self.max_rows = max_rows

    @cached_property
    def fonts(self) -> Fonts:
        return Fonts()

    def too_many(self) -> ExportRefused:
        return ExportRefused(
            "too_many_rows",
            f"The report has more than {self.max_rows:,} rows, the most a PDF may hold "
            "(PDF_MAX_ROWS). Ask for csv, xlsx or json, or for a smaller range.",
        )

    def stream(self, cursor: psycopg.Cursor, query: Query, counter: RowCounter) -> Iterator[bytes]:
        self.fonts  # noqa: B018 (registers the fonts before anything measures text)
        columns = cells.describe(cursor, query)
        layout = Layout(columns, sampled_widths(cursor, query, columns), len(query.summary))
        statement = ROWS.format(
            cells=sql.SQL(", ").join(cells.as_text(query.timezone)(c) for c in columns),
            query=sql.SQL(query.sql),
            limit=sql.Literal(self.max_rows + 1),
        )
        generated = datetime.now(ZoneInfo(query.timezone)).isoformat(timespec="seconds")
        with tempfile.SpooledTemporaryFile(max_size=READ_BYTES * 8) as spool:
            canvas = Canvas(spool, pagesize=PAGE, pageCompression=1, invariant=0)
            canvas.setTitle(query.title)
            with cursor.connection.cursor(name="reportbox_pdf_rows") as rows:
                rows.execute(statement, query.params)
                batch = rows.fetchmany(layout.first_page_rows)
                total = batch[0][0] if batch else 0
                if total > self.max_rows:
                    raise self.too_many()
                pages = layout.pages(total)
                self._cover(canvas, query, generated)
                done = 0
                for page in range(1, pages + 1):
                    if page > 1:
                        batch = rows.fetchmany(layout.rows_per_page)
                    self._table(canvas, layout, [row[1:] for row in batch], page == 1)
                    self._footer(canvas, page, pages)
                    canvas.showPage()
                    done += len(batch)
                    counter.rows_processed = done
                    yield b""
            canvas.save()
            spool.seek(0)
            while chunk := spool.read(READ_BYTES):
                yield chunk

    def _cover(self, canvas: Canvas, query: Query, generated: str) -> None:
        top = PAGE[1] - MARGIN
        canvas.setFont(BOLD, 14)
        canvas.drawString(MARGIN, top - 14, self.fonts.printable(query.title or "Report"))
        canvas.setFont(REGULAR, 8)
        lines = [f"{key}: {value}" for key, value in query.summary]
        lines.append(f"Generated at {generated}")
        usable = PAGE[0] - 2 * MARGIN
        for number, line in enumerate(lines):
            text = fitted(self.fonts.printable(line), usable, REGULAR, 8)
            canvas.drawString(MARGIN, top - 30 - number * ROW_HEIGHT, text)

    def _table(
        self, canvas: Canvas, layout: Layout, rows: Sequence[Sequence[str | None]], first: bool
    ) -> None:
        printable = self.fonts.printable
        data = [layout.header]
        for row in rows:
            data.append(
                [
                    fitted(printable(value), width) if value is not None else ""
                    for value, width in zip(row, layout.text_widths, strict=True)
                ]
            )
        table = Table(
            data,
            colWidths=layout.column_widths,
            rowHeights=[HEADER_HEIGHT] + [ROW_HEIGHT] * len(rows),
            style=layout.style,
        )
        _, height = table.wrapOn(canvas, layout.usable_width, PAGE[1])
        top = layout.first_table_top if first else PAGE[1] - MARGIN
        table.drawOn(canvas, MARGIN, top - height)

    def _footer(self, canvas: Canvas, page: int, pages: int) -> None:
        canvas.setFont(REGULAR, 8)
        canvas.drawCentredString(PAGE[0] / 2, FOOTER_Y, f"page {page} of {pages}")


class Layout:
    """Where everything goes: column widths, and how many rows fit on each page."""

    def __init__(self, columns: Sequence[cells.Column], widths: Sequence[int], summary: int):
        self.usable_width = PAGE[0] - 2 * MARGIN
        weights = [max(4, min(width, 40)) for width in widths] or [1]
        scale = self.usable_width / sum(weights)
        self.column_widths = [weight * scale for weight in weights]
        self.text_widths = [width - 2 * PADDING for width in self.column_widths]
        self.header = [
            fitted(column.name, width, BOLD)
            for column, width in zip(columns, self.text_widths, strict=True)
        ]
        bottom = MARGIN + 6  # the footer sits below this
        table_space = PAGE[1] - MARGIN - bottom - HEADER_HEIGHT
        self.rows_per_page = int(table_space // ROW_HEIGHT)
        cover_height = 30 + (summary + 1) * ROW_HEIGHT + 6
        self.first_table_top = PAGE[1] - MARGIN - cover_height
        self.first_page_rows = max(int((table_space - cover_height) // ROW_HEIGHT), 1)
        numeric = [i for i, column in enumerate(columns) if column.type_oid in cells.NUMBERS]
        # (command, first cell, last cell, its values...), as TableStyle takes them.
        commands: list[tuple[str, tuple[int, int], tuple[int, int], *tuple[Any, ...]]] = [
            ("FONT", (0, 0), (-1, 0), BOLD, FONT_SIZE),
            ("FONT", (0, 1), (-1, -1), REGULAR, FONT_SIZE),
            ("BACKGROUND", (0, 0), (-1, 0), colors.Color(0.88, 0.88, 0.88)),
            ("LINEBELOW", (0, 0), (-1, 0), 0.6, colors.black),
            ("LINEBELOW", (0, 1), (-1, -1), 0.2, colors.Color(0.75, 0.75, 0.75)),
            ("LEFTPADDING", (0, 0), (-1, -1), PADDING),
            ("RIGHTPADDING", (0, 0), (-1, -1), PADDING),
            ("TOPPADDING", (0, 0), (-1, -1), 1),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
            ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ]
        commands += [("ALIGN", (i, 0), (i, -1), "RIGHT") for i in numeric]
        self.style = TableStyle(commands)

    def pages(self, rows: int) -> int:
        if rows <= self.first_page_rows:
            return 1
        return 1 + math.ceil((rows - self.first_page_rows) / self.rows_per_page)

"""xlsx: a real workbook whose sheet XML is written by PostgreSQL, and only zipped here.

Each row leaves the database as one finished <row> element: numbers as numbers, dates and
timestamps as Excel serial numbers with a date style, text as inline strings (so no shared
strings table has to be held in memory, and text is never a formula). Python counts rows,
zips them into xl/worksheets/sheetN.xml, and adds the few small parts a workbook needs.

A sheet holds at most 1,048,576 rows: past 1,048,575 data rows the export goes on in a
second sheet (and a third...), each with the header row. The zip is written to a spooled
temporary file (on disk past SPOOL_BYTES) because the zip's directory and each entry's
sizes are only known at the end; its bytes are then handed on in chunks to the multipart
upload. Memory stays flat whatever the row count.
"""

from __future__ import annotations

import tempfile
import zipfile
from collections.abc import Generator, Iterator, Sequence
from xml.sax.saxutils import escape, quoteattr

import psycopg
from psycopg import sql

from shared.catalog import Query
from worker.formats import cells
from worker.formats.base import RowCounter
from worker.formats.copying import CHUNK_BYTES, VERBATIM
from worker.formats.widths import sampled_widths

MAX_DATA_ROWS = 1_048_575  # Excel's 1,048,576 rows per sheet, less the header
SPOOL_BYTES = 16 * 1024 * 1024  # the zip stays in memory up to this size, then on disk
READ_BYTES = 1024 * 1024  # what is handed on at a time once the zip is complete
# Deflate level 1: the sheet XML is very repetitive, so the file is still about a sixth of
# the XML's size, and compressing it costs a third of what level 6 does.
ZIP_LEVEL = 1
MAX_WIDTH = 60  # characters; longer text wraps off the column, as in any spreadsheet

# Cell styles (the xf index in styles.xml): bold header, date-time, date.
HEADER_STYLE, TIMESTAMP_STYLE, DATE_STYLE = 1, 2, 3

ROW_NUMBER = "reportbox_xlsx_row"
ROWS = sql.SQL(
    "SELECT '<row r=\"' || {rn} || '\">' || concat({cells}) || '</row>'"
    " FROM (SELECT q.*, (mod(row_number() OVER () - 1, {per_sheet}) + 2)::text AS {rn}"
    " FROM ({query}\n) AS q) AS q"
)

# OOXML's escape for characters XML 1.0 cannot carry: _xHHHH_ (ECMA-376 ST_Xstring). A
# literal _xHHHH_ in the text is itself escaped as _x005F_xHHHH_. Tab, LF and CR are
# allowed in XML but would make COPY quote the row, so they go as character references.
_CHARACTER_REFERENCES = {9: "&#9;", 10: "&#10;", 13: "&#13;"}
NEEDS_SLOW_PATH = r"[\x01-\x1f\ufffe\uffff]|_x[0-9A-Fa-f]{4}_"


def _xml_text(value: sql.Composable) -> sql.Composable:
    """value (text) escaped for an XML text node, in SQL. Most text takes the fast path of
    three replace() calls; only text with a control character or a literal _xHHHH_ takes
    the long one."""
    v = value.as_string()
    fast = f"replace(replace(replace({v}, '&', '&amp;'), '<', '&lt;'), '>', '&gt;')"
    slow = f"regexp_replace({fast}, '_(x[0-9A-Fa-f]{{4}}_)', '_x005F_\\1', 'g')"
    for code in [*range(1, 32), 0xFFFE, 0xFFFF]:
        target = _CHARACTER_REFERENCES.get(code, f"_x{code:04X}_")
        slow = f"replace({slow}, chr({code}), '{target}')"
    return sql.SQL("CASE WHEN {v} ~ {pattern} THEN {slow} ELSE {fast} END").format(
        v=sql.SQL(v), pattern=sql.Literal(NEEDS_SLOW_PATH), slow=sql.SQL(slow), fast=sql.SQL(fast)
    )


def column_letter(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def _cell(column: cells.Column, letter: str) -> sql.Composable:
    """The <c> element for one column (NULL when the value is: concat() then skips it)."""
    ref = sql.SQL("'<c r=\"{letter}' || q.{rn} || '\"'").format(
        letter=sql.SQL(letter), rn=sql.Identifier(ROW_NUMBER)
    )
    value = column.ref
    number = sql.SQL("{ref} || '><v>' || {v} || '</v></c>'")
    string = sql.SQL(
        "{ref} || ' t=\"inlineStr\"><is><t xml:space=\"preserve\">' || {v} || '</t></is></c>'"
    )
    if column.type_oid in cells.INTEGERS:
        return number.format(ref=ref, v=sql.SQL("{}::text").format(value))
    if column.type_oid in cells.DECIMALS:
        text = sql.SQL("{}::text").format(value)
        return sql.SQL(
            "CASE WHEN {text} IN ('NaN', 'Infinity', '-Infinity') THEN {string} ELSE {number} END"
        ).format(
            text=text, string=string.format(ref=ref, v=text), number=number.format(ref=ref, v=text)
        )
    if column.type_oid == cells.BOOLEAN:
        return sql.SQL("{ref} || ' t=\"b\"><v>' || {v}::int::text || '</v></c>'").format(
            ref=ref, v=value
        )
    if column.type_oid == cells.DATE:
        return sql.SQL(
            "{ref} || ' s=\"{style}\"><v>' || ({v} - date '1899-12-30')::text || '</v></c>'"
        ).format(ref=ref, style=sql.SQL(str(DATE_STYLE)), v=value)
    if cells.is_timestamp(column):
        # The wall-clock time in the session's zone: Excel's dates have none.
        local = sql.SQL("{}::timestamp").format(value)
        serial = sql.SQL("(date_part('epoch', {}) / 86400::float8 + 25569::float8)::text").format(
            local
        )
        return sql.SQL("{ref} || ' s=\"{style}\"><v>' || {serial} || '</v></c>'").format(
            ref=ref, style=sql.SQL(str(TIMESTAMP_STYLE)), serial=serial
        )
    return string.format(ref=ref, v=_xml_text(sql.SQL("{}::text").format(value)))


def rows_statement(query: Query, columns: Sequence[cells.Column], per_sheet: int) -> sql.Composed:
    """COPY that yields one finished <row> element per result row."""
    row_cells = [_cell(column, column_letter(i)) for i, column in enumerate(columns)]
    select = ROWS.format(
        rn=sql.Identifier(ROW_NUMBER),
        cells=sql.SQL(", ").join(row_cells) if row_cells else sql.Literal(""),
        per_sheet=sql.Literal(per_sheet),
        query=sql.SQL(query.sql),
    )
    return VERBATIM.format(select)


def xml_text(text: str) -> str:
    """The same escape as the SQL, for the few strings written here (header, names)."""
    text = escape(text).replace("_x", "_x005F_x") if "_x" in text else escape(text)
    out = []
    for char in text:
        code = ord(char)
        if code < 32 or code in (0xFFFE, 0xFFFF):
            out.append(_CHARACTER_REFERENCES.get(code, f"_x{code:04X}_"))
        else:
            out.append(char)
    return "".join(out)


XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELATIONSHIPS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE_RELATIONSHIPS = "http://schemas.openxmlformats.org/package/2006/relationships"


def sheet_head(columns: Sequence[cells.Column], widths: Sequence[int]) -> bytes:
    cols = "".join(
        f'<col min="{i}" max="{i}" width="{width}" customWidth="1"/>'
        for i, width in enumerate(widths, start=1)
    )
    header = "".join(
        f'<c r="{column_letter(i)}1" t="inlineStr" s="{HEADER_STYLE}"><is><t>'
        f"{xml_text(column.name)}</t></is></c>"
        for i, column in enumerate(columns)
    )
    return (
        f'{XML_DECLARATION}<worksheet xmlns="{MAIN}" xmlns:r="{RELATIONSHIPS}">'
        '<sheetViews><sheetView workbookViewId="0">'
        '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
        '<selection pane="bottomLeft" activeCell="A2" sqref="A2"/>'
        "</sheetView></sheetViews>"
        f'<sheetFormatPr defaultRowHeight="15"/>{f"<cols>{cols}</cols>" if cols else ""}'
        f'<sheetData><row r="1">{header}</row>\n'
    ).encode()


SHEET_TAIL = b"</sheetData></worksheet>\n"

STYLES = f"""{XML_DECLARATION}<styleSheet xmlns="{MAIN}">\
<numFmts count="2"><numFmt numFmtId="164" formatCode="yyyy\\-mm\\-dd\\ hh:mm:ss"/>\
<numFmt numFmtId="165" formatCode="yyyy\\-mm\\-dd"/></numFmts>\
<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>\
<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>\
<fills count="2"><fill><patternFill patternType="none"/></fill>\
<fill><patternFill patternType="gray125"/></fill></fills>\
<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>\
<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>\
<cellXfs count="4"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>\
<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>\
<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>\
<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>\
</cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>\
</styleSheet>
"""

ROOT_RELS = f"""{XML_DECLARATION}<Relationships xmlns="{PACKAGE_RELATIONSHIPS}">\
<Relationship Id="rId1" Type="{RELATIONSHIPS}/officeDocument" Target="xl/workbook.xml"/>\
</Relationships>
"""


def workbook(sheets: int) -> str:
    entries = "".join(
        f'<sheet name="Sheet{n}" sheetId="{n}" r:id="rId{n}"/>' for n in range(1, sheets + 1)
    )
    return (
        f'{XML_DECLARATION}<workbook xmlns="{MAIN}" xmlns:r="{RELATIONSHIPS}">'
        f"<bookViews><workbookView/></bookViews><sheets>{entries}</sheets></workbook>\n"
    )


def workbook_rels(sheets: int) -> str:
    entries = "".join(
        f'<Relationship Id="rId{n}" Type="{RELATIONSHIPS}/worksheet" '
        f"Target={quoteattr(f'worksheets/sheet{n}.xml')}/>"
        for n in range(1, sheets + 1)
    )
    styles = (
        f'<Relationship Id="rId{sheets + 1}" Type="{RELATIONSHIPS}/styles" Target="styles.xml"/>'
    )
    return (
        f'{XML_DECLARATION}<Relationships xmlns="{PACKAGE_RELATIONSHIPS}">'
        f"{entries}{styles}</Relationships>\n"
    )


def content_types(sheets: int) -> str:
    sheet_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
    overrides = "".join(
        f'<Override PartName="/xl/worksheets/sheet{n}.xml" ContentType="{sheet_type}"/>'
        for n in range(1, sheets + 1)
    )
    return (
        f"{XML_DECLARATION}"
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/styles.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        f"{overrides}</Types>\n"
    )


class XlsxFormat:
    name = "xlsx"
    extension = "xlsx"
    content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

    def __init__(self, rows_per_sheet: int = MAX_DATA_ROWS, zip_level: int = ZIP_LEVEL) -> None:
        self.rows_per_sheet = rows_per_sheet
        self.zip_level = zip_level

    def stream(self, cursor: psycopg.Cursor, query: Query, counter: RowCounter) -> Iterator[bytes]:
        columns = cells.describe(cursor, query)
        widths = [min(width + 2, MAX_WIDTH) for width in sampled_widths(cursor, query, columns)]
        head = sheet_head(columns, widths)
        statement = rows_statement(query, columns, self.rows_per_sheet)
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
            with zipfile.ZipFile(
                spool, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=self.zip_level
            ) as archive:
                sheets = yield from self._sheets(archive, cursor, statement, query, head, counter)
                archive.writestr("xl/workbook.xml", workbook(sheets))
                archive.writestr("xl/_rels/workbook.xml.rels", workbook_rels(sheets))
                archive.writestr("xl/styles.xml", STYLES)
                archive.writestr("_rels/.rels", ROOT_RELS)
                archive.writestr("[Content_Types].xml", content_types(sheets))
            spool.seek(0)
            while chunk := spool.read(READ_BYTES):
                yield chunk

    def _sheets(
        self,
        archive: zipfile.ZipFile,
        cursor: psycopg.Cursor,
        statement: sql.Composed,
        query: Query,
        head: bytes,
        counter: RowCounter,
    ) -> Generator[bytes, None, int]:
        """Write the rows into as many sheets as they need; returns how many there are.

        Yields b"" after each chunk so the caller can stop a cancelled export."""
        sheets = 1
        sheet = archive.open(f"xl/worksheets/sheet{sheets}.xml", "w", force_zip64=True)
        sheet.write(head)
        with cursor.copy(statement, query.params) as copy:
            buffer = bytearray()
            rows = 0
            next_sheet_at = self.rows_per_sheet
            for row in copy:
                if rows == next_sheet_at:
                    sheet.write(buffer)
                    buffer.clear()
                    sheet.write(SHEET_TAIL)
                    sheet.close()
                    sheets += 1
                    sheet = archive.open(f"xl/worksheets/sheet{sheets}.xml", "w", force_zip64=True)
                    sheet.write(head)
                    next_sheet_at += self.rows_per_sheet
                buffer += row
                rows += 1
                if len(buffer) >= CHUNK_BYTES:
                    sheet.write(buffer)
                    buffer.clear()
                    counter.rows_processed = rows
                    yield b""
            sheet.write(buffer)
        sheet.write(SHEET_TAIL)
        sheet.close()
        counter.rows_processed = rows
        return sheets

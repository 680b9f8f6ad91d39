"""Each format writer against the real PostgreSQL: read back with a real reader, value by value."""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from datetime import datetime

import openpyxl
import pytest

from shared.catalog import Query
from tests.formats_reading import pdf_cells, pdf_pages, read_rows
from worker.formats import FORMATS, ExportRefused
from worker.formats.csv import CsvFormat
from worker.formats.pdf import PdfFormat
from worker.formats.xlsx import XlsxFormat
from worker.source import export_cursor

TEXT_FORMATS = ("csv", "csv.gz", "jsonl", "json", "xlsx")

# Strings every format must carry: quotes, backslashes, newlines, tabs, control characters
# (no NUL: PostgreSQL's text cannot hold one), emoji, right-to-left text, XML's specials,
# OOXML's own escape, and what spreadsheets would run as formulas.
TRICKY = [
    'say "hi", twice ""',
    "back\\slash \\n \\\\",
    "new\nline and\r\nCRLF",
    "tab\there",
    "bell\x07 escape\x1b unit\x1f",
    "emoji 😀👍🏽",
    "עברית ومرحبا",
    "a & b < c > d ]]>",
    "_x0041_ stays as typed",
    "=1+1",
    "@SUM(A1)",
    "",
]


class Counter:
    rows_processed = 0


def export(engine, export_format, query: Query) -> tuple[bytes, int]:
    counter = Counter()
    with export_cursor(engine, 60_000, query.timezone) as cursor:
        body = b"".join(export_format.stream(cursor, query, counter))
    return body, counter.rows_processed


def tricky_query(timezone: str = "UTC") -> Query:
    return Query(
        """
        SELECT n AS id, label, n * 1.25 AS amount, n %% 2 = 0 AS even,
               timestamptz '2026-03-29 00:30:00+00' + n * interval '1 hour' AS at,
               date '2026-01-01' + n::int AS day, NULL::text AS nothing
        FROM unnest(%(labels)s::text[]) WITH ORDINALITY AS t(label, n)
        ORDER BY n
        """,
        {"labels": TRICKY},
        timezone=timezone,
    )


HEADER = ["id", "label", "amount", "even", "at", "day", "nothing"]


@pytest.mark.parametrize("name", TEXT_FORMATS)
def test_every_tricky_string_comes_back_as_it_was(engine, name):
    body, rows = export(engine, FORMATS[name], tricky_query())

    header, data = read_rows(name, body)
    assert rows == len(TRICKY) == len(data)
    assert header == HEADER
    labels = [row[1] for row in data]
    if name in ("csv", "csv.gz"):  # a spreadsheet opens these: formulas get a leading '
        expected = [("'" + t if t[:1] in ("=", "@") else t) for t in TRICKY]
    else:
        expected = TRICKY
    assert labels == expected


@pytest.mark.parametrize("name", ["jsonl", "json"])
def test_json_numbers_stay_numbers_null_is_null_and_timestamps_are_rfc3339(engine, name):
    body, _ = export(engine, FORMATS[name], tricky_query())

    first = json.loads(body.splitlines()[0]) if name == "jsonl" else json.loads(body)[0]
    assert first == {
        "id": 1,
        "label": TRICKY[0],
        "amount": 1.25,
        "even": False,
        "at": "2026-03-29T01:30:00Z",
        "day": "2026-01-02",
        "nothing": None,
    }


def test_an_empty_result_is_a_valid_empty_file_in_every_format(engine):
    query = Query("SELECT 1 AS n, 'x'::text AS t WHERE false", {})
    for name in TEXT_FORMATS:
        body, rows = export(engine, FORMATS[name], query)
        assert rows == 0
        header, data = read_rows(name, body)
        assert data == [], name
        assert header == ([] if name in ("jsonl", "json") else ["n", "t"]), name
    assert json.loads(export(engine, FORMATS["json"], query)[0]) == []
    pdf, _ = export(engine, FORMATS["pdf"], query)
    assert "page 1 of 1" in pdf_pages(pdf)[0]


@pytest.mark.parametrize(
    ("timezone", "expected"),
    [
        # 00:30 UTC on the night Europe moves its clocks forward (at 01:00 UTC).
        ("UTC", ["2026-03-29T01:30:00Z", "2026-03-29T02:30:00Z"]),
        ("Europe/Berlin", ["2026-03-29T03:30:00+02:00", "2026-03-29T04:30:00+02:00"]),
        ("America/New_York", ["2026-03-28T21:30:00-04:00", "2026-03-28T22:30:00-04:00"]),
        ("Asia/Kathmandu", ["2026-03-29T07:15:00+05:45", "2026-03-29T08:15:00+05:45"]),
    ],
)
def test_timestamps_are_rfc3339_in_the_report_time_zone_in_every_format(engine, timezone, expected):
    query = tricky_query(timezone)
    for name in ("csv", "csv.gz", "jsonl", "json"):
        _, data = read_rows(name, export(engine, FORMATS[name], query)[0])
        assert [row[4] for row in data[:2]] == expected, name
    # Excel dates have no zone: the sheet shows the wall-clock time in the report's zone.
    _, sheet = read_rows("xlsx", export(engine, FORMATS["xlsx"], query)[0])
    assert [row[4] for row in sheet[:2]] == [
        datetime.fromisoformat(value).replace(tzinfo=None) for value in expected
    ]
    only_at = Query(f"SELECT at FROM ({query.sql}) AS q", query.params, timezone=timezone)
    pdf, _ = export(engine, FORMATS["pdf"], only_at)
    assert [row[0] for row in pdf_cells(pdf, ["at"])[:2]] == expected


def test_fractions_of_a_second_are_kept_only_when_there_are_some(engine):
    query = Query(
        "SELECT timestamptz '2026-01-01 00:03:55.25+00' AS a,"
        " timestamptz '2026-01-01 00:03:55+00' AS b, timestamp '2026-01-01 10:00:00' AS c",
        {},
    )

    _, rows = read_rows("csv", export(engine, FORMATS["csv"], query)[0])

    assert rows == [["2026-01-01T00:03:55.25Z", "2026-01-01T00:03:55Z", "2026-01-01T10:00:00"]]


# ------------------------------------------------------------------------------- csv.gz


def test_csv_gz_is_the_csv_bytes_gzipped(engine):
    query = tricky_query()

    csv_body, _ = export(engine, FORMATS["csv"], query)
    gz_body, rows = export(engine, FORMATS["csv.gz"], query)

    assert gz_body[:2] == b"\x1f\x8b"
    assert gzip.decompress(gz_body) == csv_body
    assert rows == len(TRICKY)
    assert FORMATS["csv.gz"].content_type == "application/gzip"


# --------------------------------------------------------------------------------- xlsx


def load_sheets(body: bytes) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(body))


def test_xlsx_cells_are_typed_the_header_bold_and_frozen_and_the_widths_fit(engine):
    body, _ = export(engine, FORMATS["xlsx"], tricky_query())

    sheet = load_sheets(body).worksheets[0]
    assert sheet.freeze_panes == "A2"
    assert all(cell.font.b for cell in sheet[1])
    row = sheet[11]  # the label "=1+1"
    assert [cell.data_type for cell in row[:6]] == ["n", "s", "n", "b", "d", "d"]
    assert row[1].value == "=1+1"  # a string, never a formula
    assert row[0].value == 10 and row[2].value == 12.5 and row[3].value is True
    assert row[4].value == datetime(2026, 3, 29, 10, 30)
    assert row[4].number_format == "yyyy\\-mm\\-dd\\ hh:mm:ss"
    assert row[5].value == datetime(2026, 1, 11) and row[5].number_format == "yyyy\\-mm\\-dd"
    assert sheet["G2"].value is None  # NULL is an empty cell
    widths = [sheet.column_dimensions[letter].width for letter in "ABCDEFG"]
    assert widths[0] == len("id") + 2 and widths[6] == len("nothing") + 2
    assert widths[1] == max(len(t) for t in TRICKY) + 2


def test_xlsx_text_is_never_a_formula_in_the_sheet_xml(engine):
    body, _ = export(engine, FORMATS["xlsx"], tricky_query())

    sheet_xml = zipfile.ZipFile(io.BytesIO(body)).read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet_xml
    assert '<c r="B11" t="inlineStr"><is><t xml:space="preserve">=1+1</t></is></c>' in sheet_xml


def test_xlsx_goes_on_in_a_new_sheet_with_the_header_past_the_row_limit(engine):
    query = Query(
        "SELECT g AS n, 'row ' || g AS label FROM generate_series(1, 10) g ORDER BY g", {}
    )

    body, rows = export(engine, XlsxFormat(rows_per_sheet=4), query)

    workbook = load_sheets(body)
    assert rows == 10
    assert workbook.sheetnames == ["Sheet1", "Sheet2", "Sheet3"]
    sheets = [list(sheet.iter_rows(values_only=True)) for sheet in workbook.worksheets]
    assert [len(rows) for rows in sheets] == [5, 5, 3]
    for sheet in workbook.worksheets:
        assert sheet.freeze_panes == "A2"
        assert [cell.value for cell in sheet[1]] == ["n", "label"]
    assert [row[0] for sheet in sheets for row in sheet[1:]] == list(range(1, 11))
    assert sheets[2][1] == (9, "row 9")


# ---------------------------------------------------------------------------------- pdf


def test_pdf_pages_repeat_the_header_and_say_page_n_of_m_and_the_cover_has_the_parameters(
    engine,
):
    query = Query(
        "SELECT g AS n, 'row ' || g AS label, repeat('long text ', 40) AS wide"
        " FROM generate_series(1, 120) g ORDER BY g",
        {},
        title="Numbers",
        summary=(("fromDate", "2026-01-01"), ("timezone", "UTC")),
    )

    body, rows = export(engine, PdfFormat(max_rows=1000), query)

    pages = pdf_pages(body)
    assert rows == 120 and len(pages) == 3
    assert pages[0].startswith("Numbers\nfromDate: 2026-01-01\ntimezone: UTC\nGenerated at ")
    table = pdf_cells(body, ["n", "label", "wide"])  # checks header and footer on each page
    assert [row[:2] for row in table] == [[str(n), f"row {n}"] for n in range(1, 121)]
    # Long text is cut to its column with an ellipsis, never run off the page.
    assert all(row[2].endswith("\u2026") and len(row[2]) < 400 for row in table)


def test_pdf_tricky_strings_are_drawn_as_text_the_font_can_show(engine):
    query = Query(
        "SELECT label FROM unnest(%(labels)s::text[]) WITH ORDINALITY AS t(label, n)"
        " WHERE label <> '' ORDER BY n",
        {"labels": TRICKY},
    )

    body, rows = export(engine, FORMATS["pdf"], query)

    cells = [row[0] for row in pdf_cells(body, ["label"])]
    assert rows == len(cells) == len(TRICKY) - 1
    assert cells[0] == TRICKY[0] and cells[1] == TRICKY[1]
    assert cells[2] == "new line and  CRLF"  # control characters become spaces
    assert cells[9] == "=1+1"  # a PDF runs no formulas: shown as it is
    assert "😀" in cells[5] or "?" in cells[5]
    assert set("עברית") <= set(cells[6])  # right-to-left letters are all there


def test_a_pdf_with_more_rows_than_the_cap_is_refused_naming_the_cap(engine):
    query = Query("SELECT g AS n FROM generate_series(1, 11) g", {})

    with pytest.raises(ExportRefused) as refused:
        export(engine, PdfFormat(max_rows=10), query)

    assert refused.value.code == "too_many_rows"
    assert "more than 10 rows" in refused.value.message
    assert "PDF_MAX_ROWS" in refused.value.message
    assert export(engine, PdfFormat(max_rows=11), query)[1] == 11


def test_neutralisation_off_applies_to_csv_gz_too(engine):
    from worker.formats.csv_gzip import CsvGzipFormat

    body, _ = export(engine, CsvGzipFormat(CsvFormat(neutralize=False)), tricky_query())

    _, rows = read_rows("csv.gz", body)
    assert rows[9][1] == "=1+1"

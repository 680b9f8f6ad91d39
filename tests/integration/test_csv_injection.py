"""CSV injection: hostile text leaves PostgreSQL's COPY neutralised, and otherwise intact."""

from __future__ import annotations

import csv
import io

import psycopg
import pytest

from shared.catalog import Query, get_report_type
from shared.db import libpq_url
from shared.demo import HOSTILE_DISPLAY_NAMES
from shared.models import Report
from worker.exporter import Outcome
from worker.formats import FORMATS
from worker.formats.csv import CsvFormat


class Counter:
    rows_processed = 0


def export(database_url: str, export_format: CsvFormat, query: Query) -> list[list[str]]:
    with psycopg.connect(libpq_url(database_url)) as connection, connection.cursor() as cursor:
        body = b"".join(export_format.stream(cursor, query, Counter()))
    return list(csv.reader(io.StringIO(body.decode(), newline="")))


# (text as stored, as the neutralised CSV shows it)
CELLS = [
    ("=1+2", "'=1+2"),
    ('=HYPERLINK("http://evil.example","click")', '\'=HYPERLINK("http://evil.example","click")'),
    ("+1", "'+1"),
    ("-2+3", "'-2+3"),
    ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=cmd", "'\t=cmd"),
    ("\r=cmd", "'\r=cmd"),
    ("=", "'="),
    ('Smith, "Bob"\nJr.', 'Smith, "Bob"\nJr.'),
    ("plain text", "plain text"),
    (" =1", " =1"),  # a leading space is no formula
    ("a=b", "a=b"),
    ("'quoted", "'quoted"),
    ("", ""),
]


def cell_query(value: str) -> Query:
    """One row: the value as text, varchar and char(n), next to numbers that look like formulas."""
    return Query(
        """
        SELECT 7 AS id, %(value)s::text AS as_text, %(value)s::varchar AS as_varchar,
               %(value)s::char(60) AS as_char, -5 AS negative, -1.5::numeric AS amount,
               NULL::text AS nothing
        """,
        {"value": value},
    )


@pytest.mark.parametrize(("stored", "shown"), CELLS)
def test_text_that_starts_like_a_formula_gets_a_quote_and_everything_else_is_untouched(
    settings, stored, shown
):
    header, row = export(settings.database_url, CsvFormat(), cell_query(stored))

    assert header == ["id", "as_text", "as_varchar", "as_char", "negative", "amount", "nothing"]
    padding = " " * (60 - len(stored))
    assert row == ["7", shown, shown, shown + padding, "-5", "-1.5", ""]


@pytest.mark.parametrize(("stored", "shown"), CELLS)
def test_with_neutralisation_off_the_text_comes_back_raw(settings, stored, shown):
    _, row = export(settings.database_url, CsvFormat(neutralize=False), cell_query(stored))

    assert row[1:3] == [stored, stored]


def test_the_default_registry_neutralises():
    assert FORMATS["csv"].neutralize is True


def test_column_names_that_need_quoting_survive_the_wrapping(settings):
    query = Query('SELECT \'=x\'::text AS "Display ""Name""", 1 AS "order" -- a comment', {})

    header, row = export(settings.database_url, CsvFormat(), query)

    assert header == ['Display "Name"', "order"]
    assert row == ["'=x", "1"]


def test_the_wrapped_query_keeps_the_row_order(settings):
    query = Query(
        "SELECT g AS n, '-' || g AS label FROM generate_series(1, 500) g ORDER BY g DESC", {}
    )

    rows = export(settings.database_url, CsvFormat(), query)[1:]

    assert [int(n) for n, _ in rows] == list(range(500, 0, -1))
    assert {label for _, label in rows} == {f"'-{n}" for n in range(1, 501)}


# ---------------------------------------------- the users report, through the worker, to S3


def display_names(rows: list[list[str]]) -> list[str]:
    header, *data = rows
    return [row[header.index("display_name")] for row in data]


def users_query(org: str) -> Query:
    return get_report_type("users").query(org, {})


@pytest.mark.parametrize("org", ["acme", "globex"])
def test_the_users_report_carries_the_hostile_demo_users_neutralised(
    exporter, make_report, sessions, read_object, org
):
    report = make_report("users", parameters={}, org=org)

    assert exporter.process(report.id) is Outcome.COMPLETED

    with sessions() as session:
        done = session.get(Report, report.id)
    assert done.status == "Completed"
    rows = list(csv.reader(io.StringIO(read_object(done.object_key).decode(), newline="")))
    assert {len(row) for row in rows} == {6}  # the embedded newline split no row
    names = display_names(rows)
    assert len(names) == done.row_count
    assert names[-4:] == [
        '\'=HYPERLINK("http://evil.example","click")',
        "'+1",
        "'@SUM(A1)",
        'Smith, "Bob"\nJr.',
    ]
    assert all(not name.startswith(("=", "+", "-", "@")) for name in names)


def test_the_users_report_without_neutralisation_has_the_hostile_names_raw(settings):
    rows = export(settings.database_url, CsvFormat(neutralize=False), users_query("acme"))

    assert display_names(rows)[-4:] == HOSTILE_DISPLAY_NAMES

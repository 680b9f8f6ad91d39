"""Formats, columns and time zones through the API and the exporter, and a report type added
from a module of its own: listed, validated and exported in every format."""

from __future__ import annotations

import textwrap
import urllib.request
import uuid

import pytest

from api.app import create_app
from shared.catalog import EXPORT_FORMATS, REPORT_TYPES, get_report_type, register_modules
from shared.models import Report
from tests.formats_reading import assert_same_rows, source_rows
from tests.integration.helpers import reports_of
from worker.formats import formats_for
from worker.source import export_cursor

JANUARY = {"fromDate": "2026-01-01", "toDate": "2026-01-31"}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def post(client, token, report_type="sessions", format="csv", parameters=None, key=None):
    headers = auth(token)
    if key is not None:
        headers["Idempotency-Key"] = key
    body = {"format": format, "parameters": JANUARY if parameters is None else parameters}
    return client.post(f"/api/v1/reports/{report_type}", json=body, headers=headers)


# ---------------------------------------------------------------------------- the catalog


def test_the_catalog_lists_formats_columns_and_the_standard_parameters(client, make_token):
    response = client.get("/api/v1/report-types", headers=auth(make_token()))

    types = {item["name"]: item for item in response.get_json()["items"]}
    sessions = types["sessions"]
    assert sessions["formats"] == list(EXPORT_FORMATS)
    assert sessions["columns"][3] == {
        "name": "started_at",
        "type": "timestamp",
        "description": "When the session started.",
    }
    properties = sessions["parameters"]["properties"]
    assert properties["columns"]["type"] == "array"
    assert properties["columns"]["items"]["enum"] == [c["name"] for c in sessions["columns"]]
    assert properties["timezone"] == {**properties["timezone"], "type": "string", "default": "UTC"}
    assert properties["fromDate"]["format"] == "date"
    for item in types.values():
        assert [c["name"] for c in item["columns"]] == item["parameters"]["properties"]["columns"][
            "items"
        ]["enum"]


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("parameters", "field", "message"),
    [
        ({**JANUARY, "columns": ["country", "colour"]}, "parameters.columns.1", "'colour'"),
        ({**JANUARY, "timezone": "Europe/Atlantis"}, "parameters.timezone", "Europe/Atlantis"),
    ],
)
def test_an_unknown_column_or_zone_is_422_naming_it_and_nothing_is_written(
    client, make_token, sessions, parameters, field, message
):
    sub = f"user-{uuid.uuid4().hex[:8]}"

    response = post(client, make_token(sub=sub), parameters=parameters)

    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert message in response.get_json()["errors"][field][0]
    assert reports_of(sessions, sub) == 0


def test_an_unknown_format_is_422_listing_the_six(client, make_token):
    response = post(client, make_token(), format="docx")

    assert response.status_code == 422
    assert response.get_json()["errors"]["format"] == [f"must be one of {list(EXPORT_FORMATS)}"]


def test_format_columns_and_timezone_are_part_of_the_request_identity(client, make_token):
    token = make_token()
    first = post(client, token, parameters={**JANUARY, "columns": ["session_id", "country"]})
    same = post(
        client,
        token,
        parameters={**JANUARY, "columns": ["session_id", "country"], "timezone": "UTC"},
    )
    reordered = post(client, token, parameters={**JANUARY, "columns": ["country", "session_id"]})
    other_zone = post(
        client,
        token,
        parameters={**JANUARY, "columns": ["session_id", "country"], "timezone": "Asia/Tokyo"},
    )
    other_format = post(
        client, token, format="jsonl", parameters={**JANUARY, "columns": ["session_id", "country"]}
    )

    assert first.status_code == 202
    assert same.status_code == 409  # UTC is the default: the very same request
    assert same.get_json()["existingReportId"] == first.get_json()["reportId"]
    assert [reordered.status_code, other_zone.status_code, other_format.status_code] == [202] * 3


def test_an_idempotency_key_reused_with_other_columns_is_422(client, make_token):
    token = make_token()
    assert post(client, token, key="k-1", parameters=JANUARY).status_code == 202

    again = post(client, token, key="k-1", parameters={**JANUARY, "columns": ["device"]})

    assert again.status_code == 422
    assert "Idempotency-Key" in again.get_json()["errors"]


# ------------------------------------------------------------------- a type of one's own

THROWAWAY = '''
"""Widgets: a report type that lives in a module of its own."""

from marshmallow import fields, validate

from shared.catalog.base import Column, Query, ReportType
from shared.inputs import InputSchema


class WidgetParameters(InputSchema):
    count = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=1000))


def build_query(org, parameters):
    # "g > -1" keeps every row, but the planner guesses a third of them: an estimate that
    # is below the real count, as estimates can be.
    return Query(
        """
        SELECT g AS widget_id, %(org)s || ' widget ' || g AS name, g * 0.5 AS price,
               timestamptz '2026-03-28 23:00:00+00' + g * interval '1 hour' AS made_at
        FROM generate_series(1, %(count)s) AS g
        WHERE g > -1
        ORDER BY g
        """,
        {"org": org, "count": parameters["count"]},
    )


REPORT_TYPE = ReportType(
    name="widgets",
    title="Widgets",
    description="For tests: count widgets.",
    roles=frozenset({"analyst", "admin"}),
    columns=(
        Column("widget_id", "integer", "The widget's number."),
        Column("name", "string", "What it is called."),
        Column("price", "number", "Half its number."),
        Column("made_at", "timestamp", "An hour apart, across the spring DST change."),
    ),
    parameters_schema=WidgetParameters,
    build_query=build_query,
)
'''


@pytest.fixture
def widgets(tmp_path, monkeypatch):
    """The throwaway type, registered from a temporary module for this test only."""
    module = f"throwaway_widgets_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(THROWAWAY))
    monkeypatch.syspath_prepend(str(tmp_path))
    registered = dict(REPORT_TYPES)
    register_modules(module)  # what REPORT_TYPE_MODULES does in every process
    widgets = get_report_type("widgets")
    REPORT_TYPES.clear()
    REPORT_TYPES.update(registered)
    monkeypatch.setitem(REPORT_TYPES, "widgets", widgets)  # removed again after the test
    return widgets


def download(client, token, report_id: str) -> tuple[dict, bytes]:
    report = client.get(f"/api/v1/reports/{report_id}", headers=auth(token)).get_json()
    assert report["status"] == "Completed", report
    with urllib.request.urlopen(report["downloadUrl"], timeout=10) as response:
        return report, response.read()


def test_a_type_from_its_own_module_is_listed_validated_and_exported_in_every_format(
    client, make_token, exporter, engine, widgets
):
    token = make_token()
    listed = client.get("/api/v1/report-types", headers=auth(token)).get_json()["items"]
    assert "widgets" in [item["name"] for item in listed]
    assert post(client, token, "widgets", parameters={"count": 0}).status_code == 422
    assert post(client, token, "widgets", parameters={"count": 5, "x": 1}).status_code == 422

    parameters = {"count": 30, "timezone": "Europe/Berlin", "columns": ["made_at", "name", "price"]}
    ids = {}
    for name in EXPORT_FORMATS:
        accepted = post(client, token, "widgets", format=name, parameters=parameters)
        assert accepted.status_code == 202, accepted.get_json()
        ids[name] = accepted.get_json()["reportId"]

    query = widgets.query("acme", parameters)
    with export_cursor(engine, 60_000, query.timezone) as cursor:
        header, rows = source_rows(cursor, query)
    assert header == ["made_at", "name", "price"] and len(rows) == 30
    for name, report_id in ids.items():
        exporter.process(uuid.UUID(report_id))
        report, body = download(client, token, report_id)
        assert report["file"]["name"] == f"widgets.{name}"
        assert report["file"]["rows"] == 30
        assert report["file"]["sizeBytes"] == len(body)
        assert_same_rows(name, body, query, header, rows)


def test_a_pdf_over_the_cap_is_refused_at_once_when_the_estimate_says_so_and_fails_when_the_export_finds_out(  # noqa: E501
    settings, make_token, make_exporter, sessions, widgets
):
    capped = settings.with_overrides(pdf_max_rows=10)
    app = create_app(capped)
    client = app.test_client()
    sub = f"user-{uuid.uuid4().hex[:8]}"
    token = make_token(sub=sub)
    try:
        refused = post(client, token, "widgets", format="pdf", parameters={"count": 300})
        january = post(client, token, "sessions", format="pdf", parameters=JANUARY)
        within = post(client, token, "widgets", format="pdf", parameters={"count": 10})
        # The planner guesses about 7 of these 20 rows: admitted, then found too long.
        found_out = post(client, token, "widgets", format="pdf", parameters={"count": 20})
        csv_is_fine = post(client, token, "widgets", format="csv", parameters={"count": 300})
    finally:
        app.extensions["reportbox"].engine.dispose()

    for answer in (refused, january):
        assert answer.status_code == 422
        assert "PDF_MAX_ROWS" in answer.get_json()["detail"]
        assert answer.get_json()["errors"]["format"] == ["pdf holds at most 10 rows"]
    assert [within.status_code, found_out.status_code, csv_is_fine.status_code] == [202] * 3
    assert reports_of(sessions, sub) == 3

    exporter = make_exporter(formats=formats_for(capped))
    exporter.process(uuid.UUID(within.get_json()["reportId"]))
    exporter.process(uuid.UUID(found_out.get_json()["reportId"]))
    with sessions() as session:
        done = session.get(Report, uuid.UUID(within.get_json()["reportId"]))
        failed = session.get(Report, uuid.UUID(found_out.get_json()["reportId"]))
    assert done.status == "Completed" and done.row_count == 10
    assert failed.status == "Failed"
    assert failed.error_code == "too_many_rows"
    assert "more than 10 rows" in failed.error_message
    assert "PDF_MAX_ROWS" in failed.error_message
    assert failed.object_key is None

"""Every report type in every format, through the real processes, downloaded by its presigned URL
and read back with a real reader: exactly the rows and values of the source query."""

from __future__ import annotations

import hashlib
import urllib.request

import psycopg
import pytest

from shared.catalog import EXPORT_FORMATS, get_report_type
from shared.db import libpq_url
from tests.e2e.api_client import ApiClient
from tests.formats_reading import assert_same_rows, source_rows

pytestmark = pytest.mark.e2e

# Small ranges keep the 18 exports quick. The sessions window crosses the night Europe's
# clocks go forward, in Berlin time; users are shown in New York time.
REQUESTS = {
    "sessions": {"fromDate": "2026-03-28", "toDate": "2026-03-30", "timezone": "Europe/Berlin"},
    "popularity": {"fromDate": "2026-03-01", "toDate": "2026-03-31", "limit": 15},
    "users": {
        "createdFrom": "2025-06-01",
        "createdTo": "2025-07-31",
        "plan": "premium",
        "timezone": "America/New_York",
        "columns": ["created_at", "display_name", "user_id"],
    },
}


def download(url: str) -> tuple[bytes, dict[str, str]]:
    with urllib.request.urlopen(url, timeout=10) as response:  # no token: the URL is the key
        return response.read(), dict(response.headers)


def test_every_type_in_every_format_downloads_with_exactly_the_source_rows(stack, make_token):
    # One user per type: six reports each stay within MAX_ACTIVE_REPORTS_PER_USER.
    clients = {name: ApiClient(stack.base_url, make_token(roles=("admin",))) for name in REQUESTS}
    ids = {}
    for name, parameters in REQUESTS.items():
        client = clients[name]
        for format_name in EXPORT_FORMATS:
            accepted = client.request_report(name, parameters, format=format_name)
            assert accepted.status == 202, (name, format_name, accepted.body)
            ids[name, format_name] = accepted.body["reportId"]

    with psycopg.connect(libpq_url(stack.settings.source_database_url)) as connection:
        for (name, format_name), report_id in ids.items():
            client = clients[name]
            report = client.wait_until_terminal(report_id, timeout=120)
            assert report["status"] == "Completed", (name, format_name, report)
            body, headers = download(report["downloadUrl"])
            headers = {key.lower(): value for key, value in headers.items()}
            facts = report["file"]
            extension = format_name
            assert facts["sizeBytes"] == len(body)
            assert facts["sha256"] == hashlib.sha256(body).hexdigest()
            assert headers["content-type"] == facts["contentType"]
            assert f'filename="{facts["name"]}"' in headers["content-disposition"]
            assert "content-encoding" not in headers  # csv.gz is saved as the gzip it is

            report_type = get_report_type(name)
            loaded = report_type.load_parameters(REQUESTS[name])
            assert facts["name"] == report_type.file_name(loaded, extension)
            query = report_type.query("acme", REQUESTS[name])
            with connection.cursor() as cursor:
                cursor.execute(f"SET TIME ZONE '{query.timezone}'")
                header, rows = source_rows(cursor, query)
            connection.rollback()
            assert rows, (name, "the range should hold some rows")
            assert facts["rows"] == len(rows), (name, format_name)
            assert_same_rows(format_name, body, query, header, rows)

    client = clients["sessions"]
    sessions_csv = client.report(ids["sessions", "csv"]).body["file"]
    assert sessions_csv["name"] == "sessions-2026-03-28-2026-03-30.csv"
    assert sessions_csv["contentType"] == "text/csv; charset=utf-8"
    assert client.report(ids["sessions", "csv.gz"]).body["file"]["contentType"] == (
        "application/gzip"
    )

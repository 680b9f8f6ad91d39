"""A client asks for a report and downloads it: API → outbox → relay → RabbitMQ → worker → S3."""

from __future__ import annotations

import csv
import hashlib
import io
import urllib.request

import pytest
from sqlalchemy import text

from tests.e2e.api_client import ApiClient

pytestmark = pytest.mark.e2e

JANUARY = {"fromDate": "2026-01-01", "toDate": "2026-01-31"}


def count_sessions(stack, org: str, **filters: str) -> int:
    clauses = "".join(f" AND {column} = :{column}" for column in filters)
    with stack.sessions() as session:
        return session.execute(
            text(
                "SELECT count(*) FROM demo.sessions WHERE org = :org AND started_at >= :start "
                f"AND started_at < :end{clauses}"
            ),
            {"org": org, "start": "2026-01-01T00:00:00Z", "end": "2026-02-01T00:00:00Z", **filters},
        ).scalar_one()


def download(url: str) -> tuple[bytes, dict[str, str]]:
    with urllib.request.urlopen(url, timeout=10) as response:  # no token: the URL is the key
        return response.read(), dict(response.headers)


def test_a_requested_report_completes_and_downloads_with_the_right_rows(stack, make_token):
    client = ApiClient(stack.base_url, make_token(org="acme"))

    accepted = client.request_report("sessions", {**JANUARY, "country": "DE"})

    assert accepted.status == 202
    assert accepted.headers["Location"] == accepted.body["statusUrl"]
    report = client.wait_until_terminal(accepted.body["reportId"])
    assert report["status"] == "Completed", report
    body, headers = download(report["downloadUrl"])
    rows = list(csv.reader(io.StringIO(body.decode())))
    expected = count_sessions(stack, "acme", country="DE")
    assert expected > 0
    assert len(rows) - 1 == expected == report["file"]["rows"]
    assert {row[5] for row in rows[1:]} == {"DE"}
    assert report["file"]["sha256"] == hashlib.sha256(body).hexdigest()
    assert "attachment" in headers["Content-Disposition"]
    assert report["file"]["name"] in headers["Content-Disposition"]


def csv_rows(url: str) -> list[tuple[str, ...]]:
    return [tuple(row) for row in csv.reader(io.StringIO(download(url)[0].decode()))][1:]


def test_a_second_org_sees_none_of_it(stack, make_token):
    acme = ApiClient(stack.base_url, make_token(org="acme", roles=("admin",)))
    globex = ApiClient(stack.base_url, make_token(org="globex", roles=("admin",)))
    acme_report = acme.wait_until_terminal(
        acme.request_report("sessions", JANUARY).body["reportId"]
    )
    globex_report = globex.wait_until_terminal(
        globex.request_report("sessions", JANUARY).body["reportId"]
    )

    assert globex.report(acme_report["reportId"]).status == 404
    acme_rows = csv_rows(acme_report["downloadUrl"])
    globex_rows = csv_rows(globex_report["downloadUrl"])
    assert len(acme_rows) == count_sessions(stack, "acme")
    assert len(globex_rows) == count_sessions(stack, "globex")
    assert not set(acme_rows) & set(globex_rows)


def test_every_report_type_completes(stack, make_token):
    client = ApiClient(stack.base_url, make_token(org="globex", roles=("admin",)))
    requests = {
        "sessions": JANUARY,
        "users": {"plan": "premium"},
        "popularity": {**JANUARY, "limit": 10},
    }

    ids = {
        name: client.request_report(name, parameters).body["reportId"]
        for name, parameters in requests.items()
    }

    for name, report_id in ids.items():
        report = client.wait_until_terminal(report_id)
        assert report["status"] == "Completed", (name, report)
        assert report["file"]["rows"] > 0
    popularity = client.report(ids["popularity"]).body
    assert popularity["file"]["rows"] == 10

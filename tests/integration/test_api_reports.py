"""The report endpoints against the real app and database."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from shared.catalog import get_report_type
from shared.messages import ReportRequested
from shared.models import OutboxMessage, Report


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_request_is_accepted_with_a_pending_report_and_its_outbox_message(post_report, sessions):
    response = post_report()

    assert response.status_code == 202
    body = response.get_json()
    report_id = uuid.UUID(body["reportId"])
    assert body["status"] == "Pending"
    assert body["reportType"] == "sessions"
    assert body["statusUrl"] == f"http://reportbox.test/api/v1/reports/{report_id}"
    assert response.headers["Location"] == body["statusUrl"]
    assert int(response.headers["Retry-After"]) > 0
    with sessions() as session:
        report = session.get(Report, report_id)
        messages = [
            ReportRequested.decode(row.body) for row in session.scalars(select(OutboxMessage)).all()
        ]
    assert report.status == "Pending"
    assert report.org == "acme"
    assert report.parameters == {
        "fromDate": "2026-01-01",
        "toDate": "2026-01-31",
        # The standard parameters, stored with their defaults: part of the request's identity.
        "columns": [column.name for column in get_report_type("sessions").columns],
        "timezone": "UTC",
    }
    assert [m.report_id for m in messages].count(report_id) == 1


def test_the_owner_reads_the_report_and_nobody_else_can_tell_it_exists(
    client, post_report, make_token
):
    owner = make_token(sub="owner-1")
    report_id = post_report(token=owner).get_json()["reportId"]

    own = client.get(f"/api/v1/reports/{report_id}", headers=auth(owner))
    other_user = client.get(f"/api/v1/reports/{report_id}", headers=auth(make_token()))
    other_org = client.get(
        f"/api/v1/reports/{report_id}", headers=auth(make_token(sub="owner-1", org="globex"))
    )
    missing = client.get(f"/api/v1/reports/{uuid.uuid4()}", headers=auth(owner))

    assert own.status_code == 200
    assert own.get_json()["status"] == "Pending"
    assert own.get_json()["downloadUrl"] is None
    assert own.get_json()["progress"] == {
        "rowsProcessed": 0,
        "rowsTotal": None,
        "percent": None,
        "estimatedCompletionAt": None,
    }
    for response in (other_user, other_org, missing):
        assert response.status_code == 404
        assert response.content_type == "application/problem+json"
    assert other_user.get_json() == missing.get_json()


def test_an_admin_sees_every_report_of_their_org_only(client, post_report, make_token):
    report_id = post_report().get_json()["reportId"]

    same_org = client.get(
        f"/api/v1/reports/{report_id}", headers=auth(make_token(roles=("admin",)))
    )
    other_org = client.get(
        f"/api/v1/reports/{report_id}", headers=auth(make_token(org="globex", roles=("admin",)))
    )

    assert same_org.status_code == 200
    assert other_org.status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"format": "csv", "parameters": {"fromDate": "2026-01-01"}}, "parameters.toDate"),
        (
            {"format": "csv", "parameters": {"fromDate": "2026-02-01", "toDate": "2026-01-01"}},
            "parameters.toDate",
        ),
        (
            {"format": "xml", "parameters": {"fromDate": "2026-01-01", "toDate": "2026-01-02"}},
            "format",
        ),
        ({"parameters": {"fromDate": "2026-01-01", "toDate": "2026-01-02"}}, "format"),
        (
            {
                "format": "csv",
                "parameters": {"fromDate": "2026-01-01", "toDate": "2026-01-02", "org": "globex"},
            },
            "parameters.org",
        ),
        ({"format": "csv", "owner": "someone-else", "parameters": {}}, "owner"),
    ],
)
def test_invalid_requests_are_422_naming_the_field_and_write_nothing(
    post_report, sessions, body, field
):
    with sessions() as session:
        before = session.query(Report).count(), session.query(OutboxMessage).count()

    response = post_report(body=body)

    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    problem = response.get_json()
    assert problem["status"] == 422
    assert field in problem["errors"]
    with sessions() as session:
        assert (session.query(Report).count(), session.query(OutboxMessage).count()) == before


def test_an_unknown_report_type_is_404(post_report):
    response = post_report(report_type="payroll")

    assert response.status_code == 404
    assert response.get_json()["title"] == "Not Found"


def test_a_role_that_may_not_request_the_type_is_403(post_report, make_token):
    response = post_report(
        report_type="users",
        body={"format": "csv", "parameters": {}},
        token=make_token(roles=("analyst",)),
    )

    assert response.status_code == 403


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/report-types"),
        ("post", "/api/v1/reports/sessions"),
        ("get", f"/api/v1/reports/{uuid.uuid4()}"),
    ],
)
def test_every_endpoint_but_health_needs_a_token(client, method, path):
    response = getattr(client, method)(path, json={})

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.content_type == "application/problem+json"


@pytest.mark.parametrize(
    "claims",
    [{"exp": 1}, {"aud": "someone-else"}, {"iss": "someone-else"}, {"org": None}],
)
def test_a_token_that_fails_verification_is_401(client, make_token, claims):
    response = client.get("/api/v1/report-types", headers=auth(make_token(**claims)))

    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_health_needs_no_token_and_readiness_checks_the_database(client):
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200


def test_the_catalog_lists_each_type_with_its_parameter_schema(client, make_token):
    response = client.get("/api/v1/report-types", headers=auth(make_token()))

    assert response.status_code == 200
    types = {item["name"]: item for item in response.get_json()["items"]}
    assert set(types) == {"sessions", "users", "popularity"}
    assert types["sessions"]["parameters"]["required"] == ["fromDate", "toDate"]
    assert "csv" in types["popularity"]["formats"]
    # What a definition's period fills, so that a client can leave those fields out.
    assert types["sessions"]["rangeParameters"] == ["fromDate", "toDate"]
    assert types["users"]["rangeParameters"] == ["createdFrom", "createdTo"]


def test_malformed_json_is_400_and_other_content_is_415(client, make_token):
    headers = auth(make_token())

    malformed = client.post(
        "/api/v1/reports/sessions", data="{nope", content_type="application/json", headers=headers
    )
    not_json = client.post(
        "/api/v1/reports/sessions",
        data="a=b",
        content_type="application/x-www-form-urlencoded",
        headers=headers,
    )

    assert malformed.status_code == 400
    assert not_json.status_code == 415
    assert malformed.content_type == not_json.content_type == "application/problem+json"

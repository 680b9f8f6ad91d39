"""History, download redirects and cancel through the real processes."""

from __future__ import annotations

import urllib.request
import uuid
from datetime import date, timedelta

import pytest

from tests.e2e.api_client import Answer, ApiClient

pytestmark = pytest.mark.e2e


def test_history_download_and_cancel_of_a_finished_report(stack, make_token):
    client = ApiClient(stack.base_url, make_token(sub="e2e-lifecycle", org="globex"))
    first = client.request_report("sessions", {"fromDate": "2026-02-01", "toDate": "2026-02-03"})
    second = client.request_report("popularity", {"fromDate": "2026-02-01", "toDate": "2026-02-28"})
    for accepted in (first, second):
        assert client.wait_until_terminal(accepted.body["reportId"])["status"] == "Completed"

    history = client.request("GET", "/api/v1/reports?pageSize=10").body
    status, location = client.redirect_target(f"/api/v1/reports/{first.body['reportId']}/download")
    cancel = client.request("DELETE", f"/api/v1/reports/{first.body['reportId']}")

    assert [item["reportId"] for item in history["items"]] == [
        second.body["reportId"],
        first.body["reportId"],
    ]
    assert history["total"] == 2
    assert status == 302
    with urllib.request.urlopen(location, timeout=10) as response:
        assert response.read().startswith(b"session_id,")
    assert cancel.status == 409
    assert cancel.headers["Content-Type"] == "application/problem+json"


def test_request_and_cancel_in_a_loop_meets_the_rate_across_gunicorn_workers(stack, make_token):
    """Each cancel frees an active slot, but not the minute's count, whichever worker
    answers: the count is decided in PostgreSQL."""
    client = ApiClient(stack.base_url, make_token(sub=f"e2e-looper-{uuid.uuid4().hex[:6]}"))
    per_minute = stack.settings.max_reports_per_user_per_minute

    def request(day: int) -> Answer:
        to_date = date(2026, 1, 1) + timedelta(days=day)
        return client.request_report(
            "sessions", {"fromDate": "2026-01-01", "toDate": to_date.isoformat()}
        )

    for day in range(per_minute):
        accepted = request(day)
        assert accepted.status == 202, accepted.body
        cancelled = client.request("DELETE", f"/api/v1/reports/{accepted.body['reportId']}")
        assert cancelled.status in (202, 409)  # 409: the worker had finished it already
    refused = request(per_minute)

    assert refused.status == 429
    assert refused.body["status"] == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60

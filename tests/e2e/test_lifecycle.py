"""History, download redirects and cancel through the real processes."""

from __future__ import annotations

import urllib.request

import pytest

from tests.e2e.api_client import ApiClient

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

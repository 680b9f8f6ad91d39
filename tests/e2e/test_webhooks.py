"""A report's webhook end to end: API → worker completes it → the dispatcher process sends a
signed report.completed to a receiver on loopback, with a download URL presigned at send."""

from __future__ import annotations

import hashlib
import json
import urllib.request
import uuid

import pytest

from client import verify_webhook
from shared.webhooks import endpoints
from tests.e2e.api_client import ApiClient
from tests.integration.webhook_receiver import Receiver

pytestmark = pytest.mark.e2e


def test_a_completed_report_reaches_its_endpoint_signed(stack, make_token):
    org = f"e2e-hooks-{uuid.uuid4().hex[:8]}"
    receiver = Receiver()
    try:
        with stack.sessions.begin() as session:
            _, secret = endpoints.create(
                session.connection(),
                org,
                receiver.url("/reportbox"),
                ["report.completed"],
                include_download_url=True,
            )
        client = ApiClient(stack.base_url, make_token(org=org))
        accepted = client.request_report(
            "sessions", {"fromDate": "2026-01-01", "toDate": "2026-01-02"}
        )
        report = client.wait_until_terminal(accepted.body["reportId"])
        assert report["status"] == "Completed", report

        (request,) = receiver.wait_for("/reportbox", timeout=30)
        event = verify_webhook(request.body, request.headers, secret)
        assert event == json.loads(request.body)
        assert event["type"] == "report.completed"
        data = event["data"]
        assert data["reportId"] == report["reportId"]
        assert data["statusUrl"] == accepted.body["statusUrl"]
        assert data["file"]["sha256"] == report["file"]["sha256"]
        with urllib.request.urlopen(data["downloadUrl"], timeout=10) as response:
            assert hashlib.sha256(response.read()).hexdigest() == report["file"]["sha256"]
    finally:
        receiver.close()

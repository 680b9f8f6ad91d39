"""An e-mail delivery through the real processes: generate a run, the dispatcher mails it."""

from __future__ import annotations

import hashlib
import uuid
from email.parser import BytesParser
from email.policy import default

import pytest

from tests.e2e.api_client import ApiClient
from tests.e2e.faultstack import eventually

pytestmark = pytest.mark.e2e


def test_a_generated_run_is_mailed_with_its_file_attached(stack, make_token):
    admin = ApiClient(
        stack.base_url, make_token(sub=f"e2e-mail-{uuid.uuid4().hex[:6]}", roles=("admin",))
    )
    recipient = f"ops-{uuid.uuid4().hex[:8]}@example.org"
    saved = admin.request(
        "POST",
        "/api/v1/report-definitions",
        {
            "name": f"mailed {uuid.uuid4()}",
            "reportType": "sessions",
            "format": "csv",
            "parameters": {"fromDate": "2026-01-01", "toDate": "2026-01-03"},
            "deliveries": [
                {"kind": "api", "mode": "async"},
                {"kind": "email", "recipients": [recipient], "subject": "{name} is ready"},
            ],
        },
    )
    assert saved.status == 201, saved.body
    run = admin.request("POST", f"/api/v1/reports/{saved.body['definitionId']}/generate")
    assert run.status == 202, run.body
    report = admin.wait_until_terminal(run.body["reportId"])
    assert report["status"] == "Completed"

    def mailed() -> list:
        """the message to the recipient, kept by the sink"""
        messages = [
            BytesParser(policy=default).parsebytes(path.read_bytes())
            for path in stack.mail_dir.glob("*.eml")
        ]
        return [message for message in messages if message["To"] == recipient]

    (message,) = eventually(mailed, timeout=60)
    assert message["Subject"].endswith("is ready")
    attachment = next(message.iter_attachments())
    content = attachment.get_payload(decode=True)  # the bytes as sent, line endings and all
    assert hashlib.sha256(content).hexdigest() == report["file"]["sha256"]

    def delivered() -> dict:
        """the report lists its e-mail delivery as Delivered"""
        body = admin.report(run.body["reportId"]).body
        return next((d for d in body.get("deliveries", []) if d["status"] == "Delivered"), {})

    delivery = eventually(delivered, timeout=30)
    assert (delivery["kind"], delivery["attempts"]) == ("email", 1)

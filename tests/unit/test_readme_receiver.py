"""The README's webhook receiver, run as written: a signed event is taken, a forged one is not."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook

README = Path(__file__).resolve().parents[2] / "README.md"
SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # base64 of 24 bytes: a test secret


@pytest.fixture
def receiver(monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    (code,) = [block for block in blocks if "verify_webhook" in block]
    monkeypatch.setenv("WHSEC", SECRET)
    scope: dict = {"__name__": "__main__"}  # as when run with python
    exec(compile(code, str(README), "exec"), scope)  # the README's own lines, nothing added
    return scope["app"].test_client()


def signed(body: str, secret: str = SECRET) -> dict[str, str]:
    sent_at = datetime.now(UTC)
    return {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": Webhook(secret).sign("msg_1", sent_at, body),
        "content-type": "application/json",
    }


BODY = (
    '{"type": "report.completed", "timestamp": "2026-12-05T12:00:00Z", "data": {"reportId": "r1"}}'
)


def test_the_readme_receiver_takes_a_signed_event(receiver, capsys):
    answer = receiver.post("/reportbox-events", data=BODY, headers=signed(BODY))
    assert answer.status_code == 204
    assert "report.completed r1" in capsys.readouterr().out


def test_the_readme_receiver_refuses_a_forged_or_altered_one(receiver):
    other = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY"
    forged = receiver.post("/reportbox-events", data=BODY, headers=signed(BODY, other))
    altered = receiver.post(
        "/reportbox-events", data=BODY.replace("r1", "r2"), headers=signed(BODY)
    )
    assert (forged.status_code, altered.status_code) == (400, 400)

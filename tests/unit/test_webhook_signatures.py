"""Signatures: ours are made by the standardwebhooks package, and the client's own
verify_webhook (no standardwebhooks in the client) accepts exactly what that package signs."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook

from client import WebhookVerificationError, verify_webhook
from shared.webhooks.signing import new_secret, signature_header


@pytest.fixture
def now() -> datetime:
    """Read per test: signatures older than five minutes are refused, and a long suite run
    reaches a module's tests minutes after it was imported."""
    return datetime.now(UTC).replace(microsecond=0)


BODY = json.dumps({"type": "report.completed", "data": {"reportId": "r", "note": "é"}})


def _headers(signature, timestamp, message_id="msg_1"):
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature,
    }


def test_a_new_secret_is_whsec_and_32_random_bytes():
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert new_secret() != secret


def test_our_signature_verifies_with_the_standardwebhooks_package(now):
    secret = new_secret()
    headers = _headers(signature_header([secret], "msg_1", now, BODY), now)
    assert Webhook(secret).verify(BODY, headers) == json.loads(BODY)


def test_two_signatures_during_a_rotation_each_verify(now):
    old, new = new_secret(), new_secret()
    header = signature_header([new, old], "msg_1", now, BODY)
    assert len(header.split(" ")) == 2 and all(part.startswith("v1,") for part in header.split())
    for secret in (old, new):
        assert (
            verify_webhook(BODY.encode(), _headers(header, now), secret)["type"]
            == "report.completed"
        )
        Webhook(secret).verify(BODY, _headers(header, now))


def test_the_client_verifies_what_the_standardwebhooks_package_signs(now):
    secret = new_secret()
    signature = Webhook(secret).sign("msg_2", now, BODY)
    event = verify_webhook(BODY.encode(), _headers(signature, now, "msg_2"), secret)
    assert event == json.loads(BODY)
    # Header names in any case; a str body is its UTF-8 bytes.
    upper = {name.upper(): value for name, value in _headers(signature, now, "msg_2").items()}
    assert verify_webhook(BODY, upper, secret) == json.loads(BODY)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda body, headers: (body + b" ", headers),
        lambda body, headers: (body, {**headers, "webhook-id": "msg_other"}),
        lambda body, headers: (
            body,
            {**headers, "webhook-timestamp": str(int(headers["webhook-timestamp"]) + 1)},
        ),
        lambda body, headers: (body, {**headers, "webhook-signature": "v1,AAAA"}),
        lambda body, headers: (
            body,
            {**headers, "webhook-signature": headers["webhook-signature"].replace("v1,", "v2,")},
        ),
    ],
)
def test_anything_changed_fails_verification(tamper, now):
    secret = new_secret()
    headers = _headers(Webhook(secret).sign("msg_3", now, BODY), now, "msg_3")
    body, changed = tamper(BODY.encode(), headers)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(body, changed, secret)


def test_another_secret_fails_verification(now):
    headers = _headers(signature_header([new_secret()], "msg_1", now, BODY), now)
    with pytest.raises(WebhookVerificationError, match="no signature"):
        verify_webhook(BODY.encode(), headers, new_secret())


def test_missing_headers_and_old_timestamps_fail(now):
    secret = new_secret()
    headers = _headers(Webhook(secret).sign("msg_1", now, BODY), now)
    for name in headers:
        partial = {key: value for key, value in headers.items() if key != name}
        with pytest.raises(WebhookVerificationError, match="missing"):
            verify_webhook(BODY, partial, secret)
    with pytest.raises(WebhookVerificationError, match="too far"):
        verify_webhook(BODY, headers, secret, now=now.timestamp() + 301)
    assert verify_webhook(BODY, headers, secret, now=now.timestamp() + 299)
    with pytest.raises(WebhookVerificationError, match="not a number"):
        verify_webhook(BODY, {**headers, "webhook-timestamp": "soon"}, secret)
    with pytest.raises(WebhookVerificationError, match="base64"):
        verify_webhook(BODY, headers, "whsec_!!!")

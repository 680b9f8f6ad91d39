"""Verify a webhook delivery from Reportbox (the Standard Webhooks signature scheme).

    from client import verify_webhook, WebhookVerificationError

    event = verify_webhook(request.body, request.headers, "whsec_...")

Pass the body exactly as received (bytes). The signature is an HMAC-SHA256, keyed with the
base64-decoded secret, of `{webhook-id}.{webhook-timestamp}.{body}`; `webhook-signature`
holds one or more `v1,<base64>` separated by spaces (two while the secret is being
rotated), and any one that matches is enough. A timestamp more than five minutes from now
is refused, so a captured delivery cannot be replayed later.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from client.errors import ReportboxError

SECRET_PREFIX = "whsec_"
TOLERANCE_SECONDS = 5 * 60


class WebhookVerificationError(ReportboxError):
    """A delivery whose headers are missing, whose timestamp is too far off, or whose
    signature does not match the secret."""


def verify_webhook(
    body: bytes | str,
    headers: Mapping[str, str],
    secret: str,
    *,
    now: float | None = None,
) -> Any:
    """The parsed event when the signature verifies; WebhookVerificationError otherwise."""
    payload = body.encode() if isinstance(body, str) else bytes(body)
    lowered = {name.lower(): value for name, value in headers.items()}
    message_id = lowered.get("webhook-id")
    timestamp = lowered.get("webhook-timestamp")
    signatures = lowered.get("webhook-signature")
    if not (message_id and timestamp and signatures):
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not a number") from None
    current = time.time() if now is None else now
    if abs(current - sent_at) > TOLERANCE_SECONDS:
        raise WebhookVerificationError("webhook-timestamp is too far from now")
    key = _secret_bytes(secret)
    signed = f"{message_id}.{sent_at}.".encode() + payload
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for candidate in signatures.split(" "):
        version, _, signature = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(signature.encode(), expected.encode()):
            return json.loads(payload)
    raise WebhookVerificationError("no signature matches the secret")


def _secret_bytes(secret: str) -> bytes:
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise WebhookVerificationError("the secret is not whsec_ and base64") from None
    if not key:
        raise WebhookVerificationError("the secret is empty")
    return key

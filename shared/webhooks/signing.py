"""Secrets and signatures per the Standard Webhooks specification (`standardwebhooks`)."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from datetime import datetime

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def new_secret() -> str:
    """`whsec_` and the base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signature_header(
    signing_secrets: Sequence[str], message_id: str, timestamp: datetime, body: str
) -> str:
    """`v1,<base64>` for each secret, space-separated (two while a rotation overlaps)."""
    return " ".join(Webhook(secret).sign(message_id, timestamp, body) for secret in signing_secrets)

"""Secrets and signatures per the Standard Webhooks specification (`standardwebhooks`).

An endpoint's secrets are stored sealed (shared/secrets.py, DELIVERY_SECRETS_KEY): seal_secret
before they are written, signing_secrets to open them at send time.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from standardwebhooks.webhooks import Webhook

from shared.secrets import SecretsUnavailable, seal_text, unseal_text

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


def seal_secret(secret: str, key: str | None) -> str:
    """The secret as the webhook_endpoints table keeps it; SecretsUnavailable without a key."""
    return seal_text(secret, key)


def signing_secrets(message: Any, key: str | None) -> list[str]:
    """The secrets that sign `message` (a row of messages.LEASE), opened: its endpoint's
    secret, and the previous one while a rotation's overlap lasts.

    SecretsUnavailable when the key is missing or is not the one that sealed them: the
    message is then not sent at all, never sent unsigned.
    """
    sealed = [message.secret] + ([message.previous_secret] if message.previous_secret else [])
    opened = [unseal_text(token, key, "the endpoint's signing secret") for token in sealed]
    if not all(secret.startswith(SECRET_PREFIX) for secret in opened):
        raise SecretsUnavailable("the endpoint's signing secret is not a whsec_ secret")
    return opened

"""Webhook signing secrets at rest: sealed with DELIVERY_SECRETS_KEY, opened to sign alone."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from cryptography.fernet import Fernet

from shared.config import ConfigError, Settings
from shared.secrets import SecretsUnavailable
from shared.webhooks.signing import new_secret, seal_secret, signing_secrets

KEY = Fernet.generate_key().decode()


def leased(secret: str, previous: str | None = None) -> SimpleNamespace:
    """A row as messages.LEASE returns it, as far as signing goes."""
    return SimpleNamespace(secret=secret, previous_secret=previous)


def test_a_sealed_secret_holds_no_clear_text_and_opens_to_itself():
    secret = new_secret()
    sealed = seal_secret(secret, KEY)
    assert "whsec_" not in sealed and secret.removeprefix("whsec_") not in sealed
    assert seal_secret(secret, KEY) != sealed  # a fresh token each time
    assert signing_secrets(leased(sealed), KEY) == [secret]


def test_both_secrets_sign_during_a_rotation():
    old, new = new_secret(), new_secret()
    message = leased(seal_secret(new, KEY), seal_secret(old, KEY))
    assert signing_secrets(message, KEY) == [new, old]


@pytest.mark.parametrize(
    ("key", "why"),
    [
        (None, "DELIVERY_SECRETS_KEY is not set"),
        ("", "DELIVERY_SECRETS_KEY is not set"),
        ("not-a-key", "not a Fernet key"),
        (Fernet.generate_key().decode(), "sealed with another key"),
    ],
)
def test_without_the_sealing_key_no_secret_comes_out(key, why):
    message = leased(seal_secret(new_secret(), KEY))
    with pytest.raises(SecretsUnavailable, match=why):
        signing_secrets(message, key)


def test_a_secret_left_in_the_clear_is_not_used_as_it_is():
    with pytest.raises(SecretsUnavailable):
        signing_secrets(leased(new_secret()), KEY)


def test_a_sealed_value_that_is_no_webhook_secret_is_refused():
    with pytest.raises(SecretsUnavailable, match="not a whsec_ secret"):
        signing_secrets(leased(seal_secret("hunter2", KEY)), KEY)


def test_sealing_needs_a_key():
    with pytest.raises(SecretsUnavailable):
        seal_secret(new_secret(), None)


def test_a_malformed_key_stops_the_process_at_its_start():
    with pytest.raises(ConfigError, match="DELIVERY_SECRETS_KEY is not a Fernet key"):
        Settings(delivery_secrets_key="not-a-key").validate()
    Settings(delivery_secrets_key=KEY).validate()

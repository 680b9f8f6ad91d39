"""Secrets at rest, encrypted with DELIVERY_SECRETS_KEY (Fernet: AES-128-CBC and
HMAC-SHA256): delivery targets' secrets (a password, a private key, a secret access key) and
webhook endpoints' signing secrets. Opened only for the one call that needs them, never logged.

In a delivery target a sealed value is a dict {"sealed": token}, so it can never be mistaken
for a plain one, it is shown as MASK, and a PATCH that sends MASK back keeps the stored secret
(api/definitions/masks.py decides whose).
A webhook secret is a text column that holds the token itself (seal_text, unseal_text).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, TypeGuard

from cryptography.fernet import Fernet, InvalidToken

MASK = "********"


class SecretsUnavailable(Exception):
    """No key, or a key that does not open what was sealed: the target cannot be used."""


def _fernet(key: str | None) -> Fernet:
    if not key:
        raise SecretsUnavailable("DELIVERY_SECRETS_KEY is not set")
    try:
        return Fernet(key.encode())
    except ValueError:
        raise SecretsUnavailable("DELIVERY_SECRETS_KEY is not a Fernet key") from None


def seal_text(value: str, key: str | None) -> str:
    """`value` encrypted: a Fernet token, itself text."""
    return _fernet(key).encrypt(value.encode()).decode()


def unseal_text(token: str, key: str | None, name: str = "the secret") -> str:
    """What seal_text sealed; SecretsUnavailable without the key that sealed it."""
    try:
        return _fernet(key).decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretsUnavailable(f"{name} was sealed with another key") from None


def is_sealed(value: object) -> TypeGuard[Mapping[str, Any]]:
    return isinstance(value, Mapping) and set(value) == {"sealed"}


def seal(
    target: Mapping[str, Any], secret_fields: Collection[str], key: str | None
) -> dict[str, Any]:
    """The target with each plain secret encrypted; already sealed ones stay as they are."""
    sealed = dict(target)
    for name in secret_fields:
        value = sealed.get(name)
        if value is None or is_sealed(value):
            continue
        sealed[name] = {"sealed": seal_text(str(value), key)}
    return sealed


def unseal(
    target: Mapping[str, Any], secret_fields: Collection[str], key: str | None
) -> dict[str, Any]:
    """The target with its secrets in the clear, for the one call that needs them."""
    opened = dict(target)
    for name in secret_fields:
        value = opened.get(name)
        if not is_sealed(value):
            continue
        opened[name] = unseal_text(value["sealed"], key, name)
    return opened


def masked(target: Mapping[str, Any], secret_fields: Collection[str]) -> dict[str, Any]:
    """The target as the API shows it: each secret present is MASK."""
    return {
        name: MASK if name in secret_fields and value is not None else value
        for name, value in target.items()
    }

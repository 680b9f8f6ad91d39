"""Tokens of every kind, good and forged, for the security tests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from shared.config import Settings

OMIT = object()  # a claim value that leaves the claim out


def claims(settings: Settings, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "sub": "security-tester",
        "org": "acme",
        "roles": ["analyst"],
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + 600,
    }
    base.update(overrides)
    return {name: value for name, value in base.items() if value is not OMIT}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256_signed_with(secret: bytes, payload: dict[str, Any]) -> str:
    """HS256 by hand: PyJWT itself refuses a PEM as HMAC secret, which is the attack."""
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64url(json.dumps(payload).encode())
    signature = hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64url(signature)}"


def unsigned(payload: dict[str, Any]) -> str:
    return jwt.encode(payload, None, algorithm="none")


def with_payload_of(token: str, payload: dict[str, Any]) -> str:
    """The token's header and signature around another payload."""
    header, _, signature = token.split(".")
    return f"{header}.{_b64url(json.dumps(payload).encode())}.{signature}"


def private_key(algorithm: str):
    if algorithm.startswith("RS"):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def public_pem(key) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def private_pem(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()

"""Bearer JWT authentication: who is calling, in which org, with which roles."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from flask import Request

from shared.config import ConfigError, Settings
from shared.errors import NotAuthenticated

REQUIRED_CLAIMS = ["exp", "iss", "aud", "sub", "org"]
PUBLIC_KEY_TYPES = {"RS": RSAPublicKey, "ES": EllipticCurvePublicKey}
EC_CURVES = {"ES256": "secp256r1", "ES384": "secp384r1", "ES512": "secp521r1"}

# Why a token was refused, in words that never quote the token itself. Subclasses come first:
# an InvalidSignatureError is also a DecodeError, an ExpiredSignatureError an InvalidTokenError.
REFUSALS: list[tuple[type[jwt.PyJWTError], str]] = [
    (jwt.ExpiredSignatureError, "The token has expired."),
    (jwt.ImmatureSignatureError, "The token is not valid yet."),
    (jwt.InvalidAlgorithmError, "The token is signed with an algorithm this API does not accept."),
    (jwt.InvalidSignatureError, "The token's signature does not verify."),
    (jwt.InvalidAudienceError, "The token is meant for another audience."),
    (jwt.InvalidIssuerError, "The token comes from another issuer."),
    (jwt.DecodeError, "The token is malformed."),
]


@dataclass(frozen=True)
class Principal:
    user_id: str
    org: str
    roles: frozenset[str]

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


class TokenVerifier:
    """Verifies tokens with the one algorithm configured; the token's own `alg` is never trusted.

    HS* tokens verify with JWT_SECRET, RS*/ES* tokens with the JWT_PUBLIC_KEY; the settings
    refuse a key of the other kind, so a public key is never used as an HMAC secret.
    """

    def __init__(self, settings: Settings) -> None:
        self._algorithm: str = settings.jwt_algorithm or ""
        # Several PEM blocks in JWT_PUBLIC_KEY are several keys, each accepted: a key
        # rotation publishes the new key beside the old one until no token uses the old.
        self._keys = [_prepared_key(self._algorithm, key) for key in _keys(settings.token_key())]
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._leeway = settings.jwt_leeway_seconds

    def verify(self, token: str) -> Principal:
        for key in self._keys[:-1]:
            try:
                return _principal(self._decode(token, key))
            except jwt.InvalidSignatureError:
                continue  # perhaps signed with the next key
            except jwt.PyJWTError as exc:
                raise NotAuthenticated(_refusal(exc)) from exc
        try:
            return _principal(self._decode(token, self._keys[-1]))
        except jwt.PyJWTError as exc:
            raise NotAuthenticated(_refusal(exc)) from exc

    def _decode(self, token: str, key: Any) -> dict[str, Any]:
        return jwt.decode(
            token,
            key,
            algorithms=[self._algorithm],
            audience=self._audience,
            issuer=self._issuer,
            leeway=self._leeway,
            options={"require": REQUIRED_CLAIMS},
        )

    def authenticate(self, request: Request) -> Principal:
        header = request.headers.get("Authorization")
        if header is None:
            raise NotAuthenticated("Send Authorization: Bearer <token>.")
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or " " in token:
            raise NotAuthenticated("The Authorization header must be Bearer <token>.")
        return self.verify(token)


PEM_END = "-----END PUBLIC KEY-----"


def _keys(configured: str) -> list[str]:
    """The PEM blocks of JWT_PUBLIC_KEY, or the one HMAC secret as it is."""
    if PEM_END not in configured:
        return [configured]
    blocks = [block.strip() + "\n" + PEM_END for block in configured.split(PEM_END)]
    return [block for block in blocks if block.strip() != PEM_END]


def _prepared_key(algorithm: str, key: str) -> Any:
    """The HMAC secret as is, or the PEM parsed once into the public key type it must be."""
    wanted = PUBLIC_KEY_TYPES.get(algorithm[:2])
    if wanted is None:
        return key
    try:
        parsed = jwt.get_algorithm_by_name(algorithm).prepare_key(key)
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise ConfigError(f"JWT_PUBLIC_KEY is not a PEM public key for {algorithm}") from exc
    if not isinstance(parsed, wanted):
        raise ConfigError(f"JWT_PUBLIC_KEY is not a PEM public key for {algorithm}")
    if isinstance(parsed, EllipticCurvePublicKey) and parsed.curve.name != EC_CURVES[algorithm]:
        # PyJWT would only notice when the first token arrives, and refuse every one.
        raise ConfigError(
            f"JWT_PUBLIC_KEY is on {parsed.curve.name}; {algorithm} needs another curve"
        )
    return parsed


def _refusal(exc: jwt.PyJWTError) -> str:
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"The token has no {exc.claim} claim."
    for kind, detail in REFUSALS:
        if isinstance(exc, kind):
            return detail
    return "The token is not valid."


def _principal(claims: dict[str, Any]) -> Principal:
    user_id, org, roles = claims["sub"], claims["org"], claims.get("roles", [])
    if not isinstance(user_id, str) or not user_id or not isinstance(org, str) or not org:
        raise NotAuthenticated("The token's sub and org claims must be non-empty strings.")
    if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
        raise NotAuthenticated("The token's roles claim must be a list of strings.")
    return Principal(user_id=user_id, org=org, roles=frozenset(roles))

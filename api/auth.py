"""Bearer JWT authentication: who is calling, in which org, with which roles."""

from __future__ import annotations

from dataclasses import dataclass

import jwt
from flask import Request

from api.errors import ApiError
from shared.config import ConfigError, Settings

REQUIRED_CLAIMS = ["exp", "iss", "aud", "sub", "org"]


@dataclass(frozen=True)
class Principal:
    user_id: str
    org: str
    roles: frozenset[str]

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


class TokenVerifier:
    """Verifies tokens with the one algorithm configured; the token's own `alg` is never trusted."""

    def __init__(self, settings: Settings) -> None:
        if settings.jwt_secret:
            self._key: str = settings.jwt_secret
        elif settings.jwt_public_key:
            self._key = settings.jwt_public_key
        else:
            raise ConfigError("set JWT_SECRET (development) or JWT_PUBLIC_KEY (production)")
        self._algorithms = [settings.jwt_algorithm]
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience

    def verify(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=self._algorithms,
                audience=self._audience,
                issuer=self._issuer,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.PyJWTError as exc:
            raise _unauthorized(f"The token is not valid: {exc}.") from exc
        roles = claims.get("roles", [])
        if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
            raise _unauthorized("The token's roles claim must be a list of strings.")
        if not isinstance(claims["sub"], str) or not isinstance(claims["org"], str):
            raise _unauthorized("The token's sub and org claims must be strings.")
        return Principal(user_id=claims["sub"], org=claims["org"], roles=frozenset(roles))

    def authenticate(self, request: Request) -> Principal:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(
                401,
                "Unauthorized",
                "Send Authorization: Bearer <token>.",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return self.verify(token.strip())


def _unauthorized(detail: str) -> ApiError:
    return ApiError(
        401, "Unauthorized", detail, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
    )

"""python -m api.tokens --sub alice --org acme --roles analyst: print a development token."""

from __future__ import annotations

import argparse
import time

import jwt

from shared.config import Settings


def issue_token(
    settings: Settings, sub: str, org: str, roles: list[str], lifetime_seconds: int = 3600
) -> str:
    if not settings.jwt_secret:
        raise SystemExit("JWT_SECRET is not set: development tokens are signed with it")
    now = int(time.time())
    claims = {
        "sub": sub,
        "org": org,
        "roles": roles,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + lifetime_seconds,
    }
    return jwt.encode(claims, settings.jwt_secret, algorithm=settings.jwt_algorithm)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m api.tokens", description=__doc__)
    parser.add_argument("--sub", required=True, help="user id")
    parser.add_argument("--org", required=True, help="tenant")
    parser.add_argument("--roles", default="", help="comma-separated, e.g. analyst,admin")
    parser.add_argument("--hours", type=float, default=12.0, help="lifetime")
    args = parser.parse_args(argv)
    roles = [role.strip() for role in args.roles.split(",") if role.strip()]
    print(issue_token(Settings.from_env(), args.sub, args.org, roles, int(args.hours * 3600)))


if __name__ == "__main__":
    main()

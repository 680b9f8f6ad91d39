"""Demo sign-in for development deployments: short-lived tokens for the demo orgs' users.

Only when DEV_MODE is on and the JWT_SECRET is one of the development secrets this repository
publishes (as `make run` and compose set up): the page then offers one button per demo user.
With a real secret the page would hand anyone who reaches it admin tokens that the deployment
trusts, so DEV_MODE alone is not enough. The tokens are minted by api/tokens.py, the same code
as `python -m api.tokens`, each time the page is rendered.
"""

from __future__ import annotations

from dataclasses import dataclass

from api.tokens import issue_token
from shared.config import DEVELOPMENT_JWT_SECRETS, Settings

DEMO_TOKEN_SECONDS = 3600  # a page left open longer asks to be reloaded


@dataclass(frozen=True)
class DemoUser:
    sub: str
    org: str
    role: str


# Two orgs, each with an analyst and an admin: enough to see roles and tenancy at work.
DEMO_USERS = (
    DemoUser("alice", "acme", "analyst"),
    DemoUser("amara", "acme", "admin"),
    DemoUser("bob", "globex", "analyst"),
    DemoUser("bea", "globex", "admin"),
)


def demo_enabled(settings: Settings) -> bool:
    return settings.dev_mode and settings.jwt_secret in DEVELOPMENT_JWT_SECRETS


def demo_sign_ins(settings: Settings) -> list[dict[str, str]]:
    """One entry per demo user with a fresh token, or none outside development."""
    if not demo_enabled(settings):
        return []
    return [
        {
            "sub": user.sub,
            "org": user.org,
            "role": user.role,
            "token": issue_token(settings, user.sub, user.org, [user.role], DEMO_TOKEN_SECONDS),
        }
        for user in DEMO_USERS
    ]

"""Demo sign-in for development deployments: short-lived tokens for the demo orgs' users.

Only when DEV_MODE is on and a JWT_SECRET signs tokens (as `make run` sets up): the page
then offers one button per demo user. The tokens are minted by api/tokens.py, the same code
as `python -m api.tokens`, each time the page is rendered.
"""

from __future__ import annotations

from dataclasses import dataclass

from api.tokens import issue_token
from shared.config import Settings

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
    return settings.dev_mode and bool(settings.jwt_secret)


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

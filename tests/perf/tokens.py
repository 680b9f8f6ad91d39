"""Bench users' tokens and unique request bodies, shared by the wrk script and open_loop.py."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

from shared.config import Settings
from tests.perf.stack import make_token

USERS = 32
FIRST_DAY = date(2026, 1, 1)


def write_tokens(settings: Settings, path: Path, users: int) -> Path:
    """One analyst token per user, one a line (the format post.lua reads)."""
    path.write_text("".join(make_token(settings) + "\n" for _ in range(users)))
    return path


def unique_body(n: int, users: int) -> tuple[int, bytes]:
    """Request n's user and body, as post.lua makes them: no user sends a window twice."""
    window = n // users
    first = FIRST_DAY + timedelta(days=window % 300)
    last = first + timedelta(days=(window // 300) % 60)
    body = {"format": "csv", "parameters": {"fromDate": str(first), "toDate": str(last)}}
    return n % users, json.dumps(body, separators=(",", ":")).encode()

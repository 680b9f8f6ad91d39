"""The banner's `python -m infra.local.token`: a token the local run's API accepts, printed
from a shell that has none of make run's environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jwt

from infra.local.run import LOCAL_DEFAULTS

ROOT = Path(__file__).resolve().parents[2]


def token_from_a_bare_shell(**env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("JWT_", "DEV_MODE"))}
    printed = subprocess.run(
        [
            sys.executable,
            "-m",
            "infra.local.token",
            "--sub",
            "bob",
            "--org",
            "globex",
            "--roles",
            "admin",
        ],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return jwt.decode(
        printed,
        env.get("JWT_SECRET", LOCAL_DEFAULTS["JWT_SECRET"]),
        algorithms=["HS256"],
        audience="reportbox-api",
        issuer="reportbox",
    )


def test_the_token_is_signed_with_the_local_run_s_secret():
    claims = token_from_a_bare_shell()
    assert (claims["sub"], claims["org"], claims["roles"]) == ("bob", "globex", ["admin"])


def test_a_jwt_secret_in_the_shell_signs_it_as_make_run_would_use_it():
    secret = "a-secret-of-this-shell-" + "x" * 16
    assert token_from_a_bare_shell(JWT_SECRET=secret)["org"] == "globex"

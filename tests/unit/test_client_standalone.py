"""client/ is a distribution of its own: it imports and runs with its one dependency, httpx.

The venv gets exactly the dependencies client/pyproject.toml declares and a copy of client/
on its path, nothing else. (That the distribution builds and installs its console script is
what `make install` does, and the e2e tests run that script.)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVER_PACKAGES = (
    "flask",
    "sqlalchemy",
    "psycopg",
    "pika",
    "boto3",
    "marshmallow",
    "api",
    "shared",
)

PROBE = f"""
import importlib.util, json
import client, client.cli
from client import Client, ValidationError
print(json.dumps({{
    "present": [name for name in {SERVER_PACKAGES!r} if importlib.util.find_spec(name)],
    "client": client.__file__,
}}))
"""


def run(argv: list[str | Path], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(arg) for arg in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=240
    )


def test_the_client_imports_and_runs_in_a_bare_venv_with_only_httpx(tmp_path):
    dependencies = tomllib.loads((ROOT / "client" / "pyproject.toml").read_text())["project"][
        "dependencies"
    ]
    assert [dependency.split("<")[0].split(">")[0] for dependency in dependencies] == ["httpx"]
    site = tmp_path / "site"
    shutil.copytree(ROOT / "client", site / "client", ignore=shutil.ignore_patterns("__pycache__"))
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    # No pip inside the venv (ensurepip is slow): this venv's pip installs into it instead.
    assert run([sys.executable, "-m", "venv", "--without-pip", venv], tmp_path, env).returncode == 0
    pip = [sys.executable, "-m", "pip", "--python", python, "install", "--quiet"]
    installed = run([*pip, "--disable-pip-version-check", *dependencies], tmp_path, env)
    assert installed.returncode == 0, installed.stderr

    bare = {"PATH": os.environ["PATH"], "PYTHONPATH": str(site)}
    probe = run([python, "-c", PROBE], tmp_path, bare)
    help_text = run([python, "-m", "client.cli", "--help"], tmp_path, bare)
    no_token = run([python, "-m", "client.cli", "list"], tmp_path, bare)

    assert probe.returncode == 0, probe.stderr
    facts = json.loads(probe.stdout)
    assert facts["present"] == []  # nothing of the server is there
    assert facts["client"] == str(site / "client" / "__init__.py")
    assert help_text.returncode == 0 and "exit codes:" in help_text.stdout
    assert (no_token.returncode, no_token.stderr) == (
        2,
        "error: no token: set REPORTBOX_TOKEN or pass --token\n",
    )

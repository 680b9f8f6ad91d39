"""`make run`: the whole system on this machine, until Ctrl-C.

Uses this machine's PostgreSQL and RabbitMQ (DATABASE_URL, RABBITMQ_URL or their defaults),
the S3 endpoint in S3_ENDPOINT_URL, or else a SeaweedFS started for this run with its data in
.run/s3/ (kept: a report downloaded before a restart downloads after it).
Creates the database, migrates, fills the demo domain, starts api, relay, worker and
dispatcher, prints
the web page's URL, a token and curl commands, and stops everything on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import psycopg
from cryptography.fernet import Fernet
from sqlalchemy import make_url

from api.tokens import issue_token
from infra.local.mail_sink import mail_sink
from infra.local.processes import ROOT, ManagedProcess, api_argv, port_open, seaweedfs_s3_server
from shared.config import Settings
from shared.db import libpq_url
from shared.storage import Storage

LOG_DIR = ROOT / ".run" / "logs"
S3_DATA_DIR = ROOT / ".run" / "s3"
MAIL_DIR = ROOT / ".run" / "mail"  # every e-mail the dispatcher sends, kept as .eml files
# The Fernet key that seals webhook signing secrets and s3 and sftp targets' secrets for
# local runs: made on the first run and kept, so what was saved before a restart still
# opens after it.
SECRETS_KEY_FILE = ROOT / ".run" / "delivery-secrets.key"
DEV_JWT_SECRET = "reportbox-local-development-secret-do-not-use-in-production"
LOCAL_DEFAULTS = {
    "JWT_SECRET": DEV_JWT_SECRET,
    "DEV_MODE": "true",  # accepts the development secret; offers demo sign-in on the page
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local-secret",
    # A webhook receiver on this machine (http://127.0.0.1:...) is what a developer tries.
    "WEBHOOK_ALLOW_HTTP": "true",
    "WEBHOOK_ALLOWED_CIDRS": "127.0.0.0/8",
    # E-mail goes to the local SMTP sink and no further: the demo analyst may mail these.
    "EMAIL_ALLOWED_DOMAINS": "example.com",
}


def say(message: str) -> None:
    print(f"reportbox: {message}", flush=True)


def local_secrets_key(path: Path) -> str:
    """The key in `path`, made there (readable by this user only) when there is none."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key().decode()
    path.touch(mode=0o600)
    path.write_text(key + "\n")
    return key


def ensure_database(database_url: str) -> None:
    url = make_url(database_url)
    server = libpq_url(url.set(database="postgres").render_as_string(hide_password=False))
    with psycopg.connect(server, autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [url.database]
        ).fetchone()
        if not exists:
            say(f"creating database {url.database}")
            connection.execute(f'CREATE DATABASE "{url.database}"')


def run_step(argv: list[str], env: dict[str, str]) -> None:
    subprocess.run(argv, cwd=ROOT, env=env, check=True)


def wait_ready(base_url: str, api: ManagedProcess, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not api.alive():
            raise SystemExit(f"the API exited; see {api.log_path}")
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{base_url}/readyz", timeout=2):
            return
        time.sleep(0.3)
    raise SystemExit(f"the API was not ready within {timeout} s; see {api.log_path}")


def banner(settings: Settings, base_url: str) -> str:
    analyst = issue_token(settings, "alice", "acme", ["analyst"], 12 * 3600)
    return f"""
Reportbox is up: API {base_url}  (logs in {LOG_DIR.relative_to(ROOT)}/, Ctrl-C stops everything)

  Open {base_url}/ in a browser and "Sign in as a demo user" (or paste the token below).

  export TOKEN={analyst}

  # ask for a report (202 Accepted, with the status URL)
  curl -s -X POST {base_url}/api/v1/reports/sessions \\
       -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\
       -d '{{"format": "csv", "parameters": {{"fromDate": "2026-01-01", "toDate": "2026-01-31"}}}}'

  # its status, and downloadUrl once Completed
  curl -s {base_url}/api/v1/reports/<reportId> -H "Authorization: Bearer $TOKEN"

  # more tokens: .venv/bin/python -m infra.local.token --sub bob --org globex --roles admin
"""


def serve(settings: Settings, env: dict[str, str], port: int) -> None:
    base_url = f"http://127.0.0.1:{port}"
    processes = [
        ManagedProcess(
            "api",
            api_argv(f"127.0.0.1:{port}", workers=4),
            env,
            LOG_DIR,
        ),
        ManagedProcess("relay", [sys.executable, "-m", "relay"], env, LOG_DIR),
        ManagedProcess("worker", [sys.executable, "-m", "worker"], env, LOG_DIR),
        ManagedProcess("dispatcher", [sys.executable, "-m", "dispatcher"], env, LOG_DIR),
    ]
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        wait_ready(base_url, processes[0])
        print(banner(settings, base_url), flush=True)
        while not stop.wait(1.0):
            dead = [process for process in processes if not process.alive()]
            if dead:
                say(f"{dead[0].name} exited unexpectedly; see {dead[0].log_path}")
                break
    finally:
        say("stopping api, relay, worker and dispatcher")
        for process in processes:
            process.stop()


def main() -> None:
    env = {**LOCAL_DEFAULTS, **os.environ, "PYTHONUNBUFFERED": "1"}
    port = int(env.get("API_PORT", "8000"))
    if port_open(port):
        raise SystemExit(f"port {port} is taken; set API_PORT to another port")
    env.setdefault("PUBLIC_BASE_URL", f"http://127.0.0.1:{port}")
    with contextlib.ExitStack() as stack:
        if not env.get("S3_ENDPOINT_URL"):
            s3_port = int(env.get("LOCAL_S3_PORT", "9000"))
            if port_open(s3_port):
                raise SystemExit(
                    f"port {s3_port} is taken; set LOCAL_S3_PORT, or S3_ENDPOINT_URL to use "
                    "the S3 endpoint that listens there"
                )
            say(f"starting a local S3 endpoint (SeaweedFS) on 127.0.0.1:{s3_port}")
            env["S3_ENDPOINT_URL"] = stack.enter_context(
                seaweedfs_s3_server(
                    s3_port,
                    S3_DATA_DIR,
                    LOG_DIR,
                    env["AWS_ACCESS_KEY_ID"],
                    env["AWS_SECRET_ACCESS_KEY"],
                )
            )
            # Runs before the server stops (last in, first out): the wait is not a hang.
            stack.callback(say, "stopping the local S3 endpoint (SeaweedFS takes about 15 s)")
        if not env.get("SMTP_URL"):
            smtp_port = int(env.get("LOCAL_SMTP_PORT", "2525"))
            if port_open(smtp_port):
                raise SystemExit(f"port {smtp_port} is taken; set LOCAL_SMTP_PORT, or SMTP_URL")
            env["SMTP_URL"] = stack.enter_context(mail_sink(smtp_port, MAIL_DIR))
            say(
                f"e-mail deliveries go to an SMTP sink on 127.0.0.1:{smtp_port}, kept in "
                f"{MAIL_DIR.relative_to(ROOT)}/ (nothing is sent on)"
            )
        if not env.get("DELIVERY_SECRETS_KEY"):
            # Without a key no webhook endpoint, s3 or sftp target could be saved (their
            # secrets are sealed).
            env["DELIVERY_SECRETS_KEY"] = local_secrets_key(SECRETS_KEY_FILE)
            key_file = SECRETS_KEY_FILE.relative_to(ROOT)
            say(f"webhook and delivery secrets are sealed with {key_file}")
        settings = Settings.from_env(env)
        ensure_database(settings.database_url)
        say("migrating")
        run_step([sys.executable, "-m", "alembic", "upgrade", "head"], env)
        sessions = env.get("DEMO_SESSIONS", "100000")
        say(f"filling the demo domain (acme, globex; {sessions} sessions each)")
        run_step(
            [sys.executable, "-m", "shared.demo", "--orgs", "acme,globex", "--sessions", sessions],
            env,
        )
        Storage(settings).ensure_bucket()
        serve(settings, env, port)


if __name__ == "__main__":
    main()

"""The two gunicorns the POST benches load: Reportbox's API (A) and the bare view (B).

Both are started with infra/local/processes.py's api_argv, the same worker count and the
same settings, so the only difference between them is the WSGI application.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from infra.local.processes import ManagedProcess, api_argv, free_port, wait_for_port
from shared.config import Settings
from tests.processes import process_env, wait_until_ready

API_WORKERS = 4
BARE_APP = "tests.perf.bare_app:create_app()"


@dataclass(frozen=True)
class Server:
    name: str
    port: int
    process: ManagedProcess

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1/reports/sessions"


def api_settings(settings: Settings) -> Settings:
    # No relay or worker runs during the POST benches, so every report stays Pending; the
    # per-user limit of active reports (429) would soon refuse everything. It is still
    # counted on every request, only never reached.
    return settings.with_overrides(
        max_active_reports_per_user=10_000_000, max_reports_per_user_per_minute=10_000_000
    )


@contextlib.contextmanager
def gunicorn(name: str, app: str | None, settings: Settings, log_dir: Path) -> Iterator[Server]:
    port = free_port()
    argv = api_argv(f"127.0.0.1:{port}", API_WORKERS)
    if app is not None:
        argv = [*argv[:-1], app]
    process = ManagedProcess(name, argv, process_env(api_settings(settings)), log_dir)
    try:
        if app is None:
            wait_until_ready(f"http://127.0.0.1:{port}", process)
        else:
            wait_for_port(port, process)
        yield Server(name, port, process)
    finally:
        code = process.stop()
        if code != 0:
            raise RuntimeError(f"{name} exited with {code}:\n{process.log()[-3000:]}")


@contextlib.contextmanager
def both(settings: Settings, log_dir: Path) -> Iterator[tuple[Server, Server]]:
    with (
        gunicorn("api", None, settings, log_dir) as api,
        gunicorn("bare", BARE_APP, settings, log_dir) as bare,
    ):
        yield api, bare

"""Reportbox's processes as real subprocesses for the end-to-end tests."""

from __future__ import annotations

import os
import sys
import time
import urllib.request
from pathlib import Path

from infra.local.processes import ManagedProcess, api_argv
from shared.config import Settings

Process = ManagedProcess


def process_env(settings: Settings) -> dict[str, str]:
    keep = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV"}
    env = {name: value for name, value in os.environ.items() if name in keep}
    env.update(settings.to_env())
    env["PYTHONUNBUFFERED"] = "1"
    return env


def stack_settings(
    settings: Settings, database_url: str, base_url: str, name: str, **overrides: object
) -> Settings:
    """A whole stack's settings: its own database and queues (named after `name`), its API's
    URL, quick to stop, and webhook receivers of the tests on loopback over plain HTTP."""
    return settings.with_overrides(
        **{
            "database_url": database_url,
            "source_database_url": database_url,
            "exchange": f"{settings.exchange}.{name}",
            "work_queue": f"{settings.work_queue}.{name}",
            "public_base_url": base_url,
            # Whatever a test leaves running is handed back at once on SIGTERM, well within
            # the 15 s that stop() waits before a SIGKILL.
            "shutdown_grace_seconds": 1.0,
            "webhook_allow_http": True,
            "webhook_allowed_cidrs": "127.0.0.0/8",
            **overrides,
        }
    )


def start_api(settings: Settings, port: int, log_dir: Path, workers: int = 2) -> Process:
    return Process("api", api_argv(f"127.0.0.1:{port}", workers), process_env(settings), log_dir)


def start_relay(settings: Settings, log_dir: Path, name: str = "relay") -> Process:
    return Process(name, [sys.executable, "-m", "relay"], process_env(settings), log_dir)


def start_worker(settings: Settings, log_dir: Path, name: str = "worker") -> Process:
    return Process(name, [sys.executable, "-m", "worker"], process_env(settings), log_dir)


def start_dispatcher(settings: Settings, log_dir: Path, name: str = "dispatcher") -> Process:
    return Process(name, [sys.executable, "-m", "dispatcher"], process_env(settings), log_dir)


def wait_until_ready(base_url: str, process: Process, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.alive():
            raise RuntimeError(f"{process.name} exited early:\n{process.log()}")
        try:
            with urllib.request.urlopen(f"{base_url}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{process.name} was not ready within {timeout} s:\n{process.log()}")

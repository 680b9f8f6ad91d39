"""The processes as real subprocesses, with a database and queues of their own."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from infra.local.mail_sink import mail_sink
from shared.config import Settings
from shared.db import make_engine, make_session_factory
from tests.conftest import RUN_ID, delete_broker_topology, fresh_database
from tests.e2e.faultstack import FaultStack, fault_stack
from tests.processes import (
    Process,
    stack_settings,
    start_api,
    start_dispatcher,
    start_relay,
    start_worker,
    wait_until_ready,
)
from tests.services import free_port

STOP_TIMEOUT = 15.0  # seconds each process has to leave on SIGTERM before a SIGKILL


@dataclass
class Stack:
    base_url: str
    settings: Settings
    sessions: sessionmaker[Session]
    log_dir: Path  # each process's output, one <name>.log each
    api: Process
    relay: Process
    worker: Process
    dispatcher: Process
    mail_dir: Path | None = None  # what the dispatcher e-mails, when an SMTP sink keeps it

    def logs(self) -> str:
        """Everything the processes wrote so far."""
        return "".join(path.read_text(errors="replace") for path in self.log_dir.glob("*.log"))


def stop_side_by_side(processes: tuple[Process, ...]) -> dict[str, int]:
    """SIGTERM to all at once, so their shutdowns overlap; each one's exit code."""
    for process in processes:
        process.signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.popen.wait(timeout=max(deadline - time.monotonic(), 0.1))
    return {process.name: process.stop() for process in processes}


@contextlib.contextmanager
def running_stack(
    settings: Settings, postgres_url: str, log_dir: Path, database: str, **overrides: Any
) -> Iterator[Stack]:
    """api, relay, worker and dispatcher on a fresh database `database` and queues of their
    own, with `overrides` on the settings; each must leave on SIGTERM by itself."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with fresh_database(postgres_url, database) as database_url:
        settings = stack_settings(
            settings,
            database_url,
            base_url,
            database,
            # A one-minute schedule may be saved, so a schedule is seen to run within minutes.
            **{"schedule_min_interval_seconds": 60, **overrides},
        )
        engine = make_engine(settings)
        processes = (
            start_api(settings, port, log_dir),
            start_relay(settings, log_dir),
            start_worker(settings, log_dir),
            start_dispatcher(settings, log_dir),
        )
        try:
            wait_until_ready(base_url, processes[0])
            yield Stack(base_url, settings, make_session_factory(engine), log_dir, *processes)
        finally:
            codes = stop_side_by_side(processes)
            engine.dispose()
            delete_broker_topology(settings)
        assert codes == {"api": 0, "relay": 0, "worker": 0, "dispatcher": 0}, codes


@pytest.fixture(scope="package")
def stack(settings: Settings, postgres_url: str, tmp_path_factory) -> Iterator[Stack]:
    mail_dir = tmp_path_factory.mktemp("mail")
    with (
        mail_sink(free_port(), mail_dir) as smtp_url,
        running_stack(
            settings,
            postgres_url,
            tmp_path_factory.mktemp("logs"),
            f"reportbox_e2e_{RUN_ID}",
            smtp_url=smtp_url,
        ) as running,
    ):
        running.mail_dir = mail_dir
        yield running


@pytest.fixture
def make_stack(settings, postgres_url, tmp_path):
    """make_stack(**overrides): a FaultStack (processes behind fault proxies), stopped after."""
    with contextlib.ExitStack() as stacks:

        def make(**overrides) -> FaultStack:
            return stacks.enter_context(fault_stack(settings, postgres_url, tmp_path, **overrides))

        yield make

"""The processes as real subprocesses, with a database and queues of their own."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

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


@dataclass
class Stack:
    mail_dir: Path  # what the dispatcher e-mails, kept by an SMTP sink
    base_url: str
    settings: Settings
    sessions: sessionmaker[Session]
    api: Process
    relay: Process
    worker: Process
    dispatcher: Process


@pytest.fixture(scope="package")
def stack(settings: Settings, postgres_url: str, tmp_path_factory) -> Stack:
    log_dir = tmp_path_factory.mktemp("logs")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    mail_dir = tmp_path_factory.mktemp("mail")
    with (
        mail_sink(free_port(), mail_dir) as smtp_url,
        fresh_database(postgres_url, f"reportbox_e2e_{RUN_ID}") as database_url,
    ):
        settings = stack_settings(
            settings,
            database_url,
            base_url,
            "e2e",
            smtp_url=smtp_url,
            # A one-minute schedule may be saved, so a schedule is seen to run within minutes.
            schedule_min_interval_seconds=60,
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
            yield Stack(mail_dir, base_url, settings, make_session_factory(engine), *processes)
        finally:
            codes = {process.name: process.stop() for process in processes}
            engine.dispose()
            delete_broker_topology(settings)
        # Each process must leave on SIGTERM by itself, not be killed.
        assert codes == {"api": 0, "relay": 0, "worker": 0, "dispatcher": 0}, codes


@pytest.fixture
def make_stack(settings, postgres_url, tmp_path):
    """make_stack(**overrides): a FaultStack (processes behind fault proxies), stopped after."""
    with contextlib.ExitStack() as stacks:

        def make(**overrides) -> FaultStack:
            return stacks.enter_context(fault_stack(settings, postgres_url, tmp_path, **overrides))

        yield make

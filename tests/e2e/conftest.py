"""The three processes, started as real subprocesses for the end-to-end tests."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from shared.config import Settings
from tests.processes import Process, start_api, start_relay, start_worker, wait_until_ready
from tests.services import free_port


@dataclass
class Stack:
    base_url: str
    settings: Settings
    api: Process
    relay: Process
    worker: Process


@pytest.fixture(scope="session")
def stack(settings: Settings, tmp_path_factory) -> Stack:
    log_dir = tmp_path_factory.mktemp("logs")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    settings = settings.with_overrides(public_base_url=base_url)
    api = start_api(settings, port, log_dir)
    relay = start_relay(settings, log_dir)
    worker = start_worker(settings, log_dir)
    processes = (api, relay, worker)
    try:
        wait_until_ready(base_url, api)
        yield Stack(base_url, settings, api, relay, worker)
    finally:
        codes = {process.name: process.stop() for process in processes}
    # Each process must leave on SIGTERM by itself, not be killed.
    assert codes == {"api": 0, "relay": 0, "worker": 0}, codes

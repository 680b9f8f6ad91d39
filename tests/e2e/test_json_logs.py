"""LOG_FORMAT=json: every line each process writes is one JSON object, from its first line
to its last, gunicorn's own lines included."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.conftest import delete_broker_topology
from tests.e2e.api_client import ApiClient
from tests.processes import start_api, start_relay, start_worker, wait_until_ready
from tests.services import free_port


def lines_that_are_not_json_objects(text: str) -> list[str]:
    wrong = []
    for line in text.splitlines():
        try:
            parsed = json.loads(line)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            wrong.append(line)
    return wrong


@pytest.fixture
def json_settings(settings):
    suffix = uuid.uuid4().hex[:8]
    json_settings = settings.with_overrides(
        log_format="json",
        exchange=f"{settings.exchange}.json-{suffix}",
        work_queue=f"{settings.work_queue}.json-{suffix}",
    )
    yield json_settings
    delete_broker_topology(json_settings)


def test_every_line_of_every_process_is_one_json_object(json_settings, make_token, tmp_path):
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    processes = [
        start_api(json_settings.with_overrides(public_base_url=base_url), port, tmp_path),
        start_relay(json_settings, tmp_path),
        start_worker(json_settings, tmp_path),
    ]
    try:
        wait_until_ready(base_url, processes[0])
        client = ApiClient(base_url, make_token())
        accepted = client.request_report(
            "sessions", {"fromDate": "2026-01-01", "toDate": "2026-01-03"}
        )
        assert accepted.status == 202, accepted.body
        report = client.wait_until_terminal(accepted.body["reportId"])
        assert report["status"] == "Completed", report
    finally:
        codes = {process.name: process.stop() for process in processes}

    assert codes == {"api": 0, "relay": 0, "worker": 0}, codes
    for process in processes:
        text = process.log()
        assert text.strip(), process.name
        assert lines_that_are_not_json_objects(text) == [], (process.name, text)
    assert "Booting worker" in processes[0].log()

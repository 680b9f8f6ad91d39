"""Schemathesis against the real API under gunicorn, driven by the document the API serves.

Positive and negative cases from every operation's schemas, with a fixed seed and a bounded
number of examples: no 5xx, no status the document does not list, no answer (body, headers,
content type) that does not match it, and every schema-invalid request refused.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from xml.etree import ElementTree

import pytest

from tests.conftest import RUN_ID, fresh_database
from tests.processes import start_api, wait_until_ready
from tests.services import free_port

# Not in `make test` (it takes about two minutes): `make fuzz`, which .ci/run also runs.
pytestmark = [pytest.mark.e2e, pytest.mark.fuzz]

SEED = 20261201
MAX_EXAMPLES = 50  # per operation and phase
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
        "missing_required_header",
        "ignored_auth",
    ]
)


@pytest.fixture(scope="module")
def api_url(settings, postgres_url, tmp_path_factory):
    """An API of its own over a database of its own: the fuzz's reports touch nobody else."""
    log_dir = tmp_path_factory.mktemp("fuzz-logs")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with fresh_database(postgres_url, f"reportbox_fuzz_{RUN_ID}") as database_url:
        fuzz_settings = settings.with_overrides(
            database_url=database_url,
            source_database_url=database_url,
            public_base_url=base_url,
            # So that generated requests reach validation rather than stop at 429.
            max_active_reports_per_user=1_000_000,
            max_reports_per_user_per_minute=1_000_000,
        )
        api = start_api(fuzz_settings, port, log_dir)
        try:
            wait_until_ready(base_url, api)
            yield base_url
        finally:
            assert api.stop() == 0, api.log()


def test_schemathesis_finds_nothing_in_either_generation_mode(api_url, make_token, tmp_path):
    token = make_token(
        org=f"fuzz-{uuid.uuid4().hex[:8]}", roles=("analyst", "admin"), exp=int(time.time()) + 3600
    )
    command = [
        str(Path(sys.executable).with_name("st")),
        "run",
        f"{api_url}/api/v1/openapi.json",
        "--mode=all",  # positive and negative
        f"--seed={SEED}",
        f"--max-examples={MAX_EXAMPLES}",
        "--phases=examples,coverage,fuzzing",
        f"--checks={CHECKS}",
        "--workers=2",
        "--request-timeout=10",
        "--generation-database=none",
        "--no-color",
        "--report=junit",
        f"--report-junit-path={tmp_path / 'junit.xml'}",
        "--header",
        f"Authorization: Bearer {token}",
    ]
    run = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=240, check=False
    )
    output = run.stdout + run.stderr
    print(output)  # shown by pytest -rA, and on failure
    assert run.returncode == 0, output
    tested = {
        case.get("name") for case in ElementTree.parse(tmp_path / "junit.xml").iter("testcase")
    }
    # Every operation, not none; schemathesis leaves out the one that serves the document
    # it reads (tests/integration/test_openapi.py checks that one's answers).
    expected = operations(f"{api_url}/api/v1/openapi.json") - {"GET /api/v1/openapi.json"}
    assert tested == expected, output


def operations(spec_url: str) -> set[str]:
    with urllib.request.urlopen(spec_url, timeout=10) as response:
        document = json.load(response)
    return {
        f"{method.upper()} {path}"
        for path, operations in document["paths"].items()
        for method in operations
        if method != "parameters"
    }

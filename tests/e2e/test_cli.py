"""The installed `reportbox` command against the real processes: api, relay and worker."""

from __future__ import annotations

import contextlib
import csv
import gzip
import hashlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import openpyxl
import pexpect
import pypdf
import pytest
from sqlalchemy import text

from client import Client, Delivery
from tests.e2e.api_client import ApiClient
from tests.e2e.faultstack import eventually

pytestmark = pytest.mark.e2e

REPORTBOX = str(Path(sys.executable).with_name("reportbox"))
JANUARY = ("--from", "2026-01-01", "--to", "2026-01-31")
# The whole year of demo sessions: the largest report there is. The tests' demo data is small
# enough that even this one finishes within a second, too fast to cancel while it runs, so
# the cancel tests hold the worker stopped (SIGSTOP) meanwhile: the report is certain to be
# Pending when it is cancelled, rather than racing the export. (Cancelling a report while it
# runs is tested in tests/integration/test_lifecycle.py.)
LARGE = ("--from", "2026-01-01", "--to", "2026-12-31")
ID = r"[0-9a-f-]{36}"


@contextlib.contextmanager
def worker_paused(stack) -> Iterator[None]:
    """The worker stopped, so nothing leaves Pending; it carries on afterwards as it was."""
    os.kill(stack.worker.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(stack.worker.pid, signal.SIGCONT)


def cli_env(stack, token: str) -> dict[str, str]:
    keep = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR"}
    env = {name: value for name, value in os.environ.items() if name in keep}
    return {**env, "REPORTBOX_URL": stack.base_url, "REPORTBOX_TOKEN": token}


def restore_default_sigint() -> None:
    """In the child before it runs the command: Ctrl-C interrupts it, as in a terminal.

    A suite started as a background job or under nohup runs with SIGINT ignored, and an
    ignored signal stays ignored across fork and exec: the command would never see the
    Ctrl-C that the tests type.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextlib.contextmanager
def parent_sigint(disposition: str) -> Iterator[None]:
    """This process's SIGINT as a foreground run has it, or ignored as a background job's."""
    if disposition == "foreground":
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.fixture
def user(stack, make_token):
    """A user of their own for each test, so no test's reports count against another's."""
    token = make_token(org="acme")
    return token, ApiClient(stack.base_url, token)


@pytest.fixture
def reportbox(stack, user) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the command with output piped, as a script or a cron job would."""
    token, _ = user

    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [REPORTBOX, *args],
            env=env or cli_env(stack, token),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    return run


@pytest.fixture
def terminal(stack, user) -> Callable[..., pexpect.spawn]:
    """Run the command in a pseudo-terminal, as a person would."""
    token, _ = user
    children: list[pexpect.spawn] = []

    def spawn(*args: str) -> pexpect.spawn:
        child = pexpect.spawn(
            REPORTBOX,
            list(args),
            env=cli_env(stack, token),
            encoding="utf-8",
            timeout=60,
            dimensions=(24, 200),
            preexec_fn=restore_default_sigint,
        )
        children.append(child)
        return child

    yield spawn
    for child in children:
        child.close(force=True)


def test_request_wait_downloads_the_file_with_its_checksum_verified(reportbox, user, tmp_path):
    _, api = user
    target = tmp_path / "january.csv"

    result = reportbox(
        "request", "sessions", *JANUARY, "--param", "country=DE", "--wait", "-o", str(target)
    )

    assert result.returncode == 0, result.stderr
    report_id = re.search(rf"report ({ID}) Completed", result.stdout).group(1)
    report = api.report(report_id).body
    content = target.read_bytes()
    assert hashlib.sha256(content).hexdigest() == report["file"]["sha256"]
    rows = list(csv.reader(io.StringIO(content.decode())))
    assert len(rows) - 1 == report["file"]["rows"] > 0
    assert {row[5] for row in rows[1:]} == {"DE"}
    assert f"saved {target} ({len(content):,} bytes, sha256 verified)" in result.stdout
    assert list(tmp_path.iterdir()) == [target]  # no temporary file left beside it


def _open(path: Path) -> int | None:
    """Read a downloaded file with the reader its extension calls for; its row count if known."""
    name = path.name
    if name.endswith(".csv.gz"):
        with gzip.open(path, "rt", newline="") as file:
            return len(list(csv.reader(file))) - 1
    if name.endswith(".csv"):
        with path.open(newline="") as file:
            return len(list(csv.reader(file))) - 1
    if name.endswith(".jsonl"):
        return len([json.loads(line) for line in path.read_text().splitlines() if line])
    if name.endswith(".json"):
        loaded = json.loads(path.read_text())
        return len(loaded) if isinstance(loaded, list) else None
    if name.endswith(".xlsx"):
        assert path.read_bytes()[:4] == b"PK\x03\x04"  # a zip container
        workbook = openpyxl.load_workbook(path, read_only=True)
        # Each sheet has its header row (a sheet holds at most 1,048,576 rows).
        return sum(sum(1 for _ in sheet.iter_rows()) - 1 for sheet in workbook.worksheets)
    if name.endswith(".pdf"):
        assert path.read_bytes()[:5] == b"%PDF-"
        assert len(pypdf.PdfReader(path).pages) >= 1
        return None
    raise AssertionError(f"no reader for {name}: add one for the new format")


def test_every_format_the_catalog_lists_downloads_and_opens(reportbox, user, tmp_path):
    _, api = user
    catalog = {
        item["name"]: item for item in api.request("GET", "/api/v1/report-types").body["items"]
    }
    formats = catalog["sessions"]["formats"]
    assert "csv" in formats

    # Requested all at once, then collected: the exports run meanwhile.
    requested = {
        report_format: json.loads(
            reportbox("request", "sessions", *JANUARY, "--format", report_format, "--json").stdout
        )["reportId"]
        for report_format in formats
    }

    for report_format, report_id in requested.items():
        directory = tmp_path / report_format
        directory.mkdir()
        result = reportbox("watch", report_id, "-o", str(directory), "--json")

        assert result.returncode == 0, (report_format, result.stderr)
        report = json.loads(result.stdout)
        saved = Path(report["savedTo"])
        assert saved.parent == directory and saved.name == report["file"]["name"]
        assert hashlib.sha256(saved.read_bytes()).hexdigest() == report["file"]["sha256"]
        rows = _open(saved)
        assert rows is None or rows == report["file"]["rows"], report_format


def test_a_large_report_cancelled_with_reportbox_cancel(stack, reportbox, user):
    _, api = user
    with worker_paused(stack):
        requested = reportbox("request", "sessions", *LARGE)
        report_id = requested.stdout.strip()
        cancelled = reportbox("cancel", report_id)
    watched = reportbox("watch", report_id, "--timeout", "60")

    assert requested.returncode == 0, requested.stderr
    assert cancelled.returncode == 0, cancelled.stderr
    assert cancelled.stdout == f"report {report_id} Cancelled\n"
    assert watched.returncode == 3, watched.stderr
    assert watched.stdout == f"report {report_id} Cancelled\n"
    assert api.report(report_id).body["status"] == "Cancelled"


# "background job": the suite itself was started with SIGINT ignored (`make test &`, nohup).
@pytest.mark.parametrize("suite_sigint", ["foreground", "background job"])
def test_ctrl_c_answered_yes_cancels_the_report_and_exits_130(stack, terminal, user, suite_sigint):
    _, api = user
    with worker_paused(stack):
        with parent_sigint(suite_sigint):
            child = terminal("request", "sessions", *LARGE, "--wait")
        child.expect("Pending")  # the bar is up: the command is waiting

        child.sendintr()
        child.expect(rf"Cancel report ({ID})\? \[y/N\] ")
        report_id = child.match.group(1)
        child.sendline("y")
        child.expect(rf"report {report_id} Cancelled")
        child.expect(pexpect.EOF)
        child.close()

    assert child.exitstatus == 130
    assert api.report(report_id).body["status"] == "Cancelled"


def test_ctrl_c_answered_no_leaves_the_report_to_finish_and_exits_130(stack, terminal, user):
    _, api = user
    with worker_paused(stack):
        child = terminal("request", "sessions", *LARGE, "--wait")
        child.expect("Pending")

        child.sendintr()
        child.expect(rf"Cancel report ({ID})\? \[y/N\] ")
        report_id = child.match.group(1)
        child.sendline("")  # the default: no
        child.expect(rf"report {report_id} goes on")
        child.expect(pexpect.EOF)
        child.close()
        still = api.report(report_id).body

    assert child.exitstatus == 130
    assert (still["status"], still["cancelRequested"]) == ("Pending", False)
    assert api.wait_until_terminal(report_id)["status"] == "Completed"


def test_a_terminal_shows_a_live_progress_bar(terminal):
    child = terminal("request", "sessions", *JANUARY, "--wait")

    child.expect(r"\r\[-{24}\] Pending  \(0:00\)\x1b\[K")
    child.expect(r"\r\[#{24}\] Completed  [\d,]+ / [\d,]+ rows  100\.0%  \(\d+:\d\d\)\x1b\[K")
    child.expect(rf"report {ID} Completed: [\d,]+ rows, [\d,]+ bytes")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_without_a_terminal_progress_is_plain_lines(reportbox):
    result = reportbox("request", "sessions", *JANUARY, "--wait")

    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert "\r" not in result.stderr and "\x1b" not in result.stderr
    assert all(re.fullmatch(rf"report {ID}: \w+.*", line) for line in lines), lines
    assert lines[0].endswith(": Pending")
    assert re.search(r": Completed  [\d,]+ / [\d,]+ rows  100\.0%$", lines[-1])
    assert re.fullmatch(rf"report {ID} Completed: [\d,]+ rows, [\d,]+ bytes\n", result.stdout)


def test_a_validation_refusal_is_one_readable_line_and_exit_5(reportbox):
    result = reportbox(
        "request", "sessions", "--from", "2026-02-01", "--to", "2026-01-01", "--wait"
    )

    assert result.returncode == 5
    assert result.stderr == "error: parameters.toDate: must not be before fromDate (HTTP 422)\n"
    assert result.stdout == ""


def test_a_refused_token_is_one_readable_line_and_exit_4_and_is_never_echoed(reportbox, stack):
    token = "not-a-real-token-4f1d9a"

    result = reportbox("list", "--token", token)
    from_env = reportbox("list", env=cli_env(stack, token))

    for outcome in (result, from_env):
        assert outcome.returncode == 4
        assert re.fullmatch(r"error: .+ \(HTTP 401\)\n", outcome.stderr), outcome.stderr
        assert token not in outcome.stderr + outcome.stdout


def test_json_output_parses_on_every_command(reportbox, tmp_path):
    types = json.loads(reportbox("types", "--json").stdout)
    accepted = json.loads(reportbox("--json", "request", "sessions", *JANUARY).stdout)
    report_id = accepted["reportId"]
    waited = reportbox("watch", report_id, "--json")
    status = json.loads(reportbox("status", report_id, "--json").stdout)
    history = json.loads(reportbox("list", "--json", "--status", "Completed").stdout)
    downloaded = json.loads(reportbox("download", report_id, "-o", str(tmp_path), "--json").stdout)
    refused = reportbox("cancel", report_id, "--json")

    assert {item["name"] for item in types["items"]} >= {"sessions", "users", "popularity"}
    assert accepted["status"] == "Pending"
    assert waited.returncode == 0
    assert json.loads(waited.stdout)["status"] == "Completed"
    assert status["reportId"] == report_id and status["file"]["rows"] > 0
    assert [item["reportId"] for item in history["items"]] == [report_id]
    assert history["total"] == 1
    assert Path(downloaded["savedTo"]).read_bytes()
    assert refused.returncode == 8
    error = json.loads(refused.stdout)["error"]
    assert (error["type"], error["status"]) == ("Conflict", 409)


def test_a_definition_saved_generated_and_listed_through_the_command_line(
    reportbox, user, tmp_path
):
    _, api = user
    name = f"weekly sessions {os.getpid()}-{tmp_path.name}"
    created = reportbox(
        "definitions",
        "create",
        "--name",
        name,
        "--type",
        "sessions",
        "--period",
        "previousWeek",
        "--cron",
        "0 6 * * 1",
        "--timezone",
        "Europe/Berlin",
        "--json",
    )
    assert created.returncode == 0, created.stderr
    definition = json.loads(created.stdout)
    definition_id = definition["definitionId"]
    assert definition["schedule"] == {"cron": "0 6 * * 1", "timezone": "Europe/Berlin"}
    assert len(definition["nextRuns"]) == 5
    assert all(run.endswith(("+01:00", "+02:00")) for run in definition["nextRuns"])

    target = tmp_path / "last-week.csv"
    generated = reportbox("definitions", "generate", definition_id, "--wait", "-o", str(target))
    assert generated.returncode == 0, generated.stderr
    report_id = re.search(rf"report ({ID}) Completed", generated.stdout).group(1)
    report = api.report(report_id).body
    assert (report["definitionId"], report["trigger"]) == (definition_id, "generate")
    assert hashlib.sha256(target.read_bytes()).hexdigest() == report["file"]["sha256"]

    runs = reportbox("list", "--definition", definition_id, "--json")
    assert runs.returncode == 0, runs.stderr
    assert [item["reportId"] for item in json.loads(runs.stdout)["items"]] == [report_id]

    assert reportbox("definitions", "pause", definition_id).returncode == 0
    assert api.request("GET", f"/api/v1/report-definitions/{definition_id}").body["active"] is False
    assert reportbox("definitions", "delete", definition_id).returncode == 0
    assert api.request("GET", f"/api/v1/report-definitions/{definition_id}").status == 404
    assert api.report(report_id).status == 200  # its run stays in the history


def test_a_runs_deliveries_are_listed_and_a_failed_one_sent_again(stack, reportbox, make_token):
    """The client and the command line on a run with an e-mail delivery: it is Delivered by
    the dispatcher, then failed as the dispatcher records a refusal, then sent again."""
    token = make_token(sub=f"cli-mail-{uuid.uuid4().hex[:6]}", roles=("admin",))
    admin = ApiClient(stack.base_url, token)
    recipient = f"cli-{uuid.uuid4().hex[:8]}@example.org"
    saved = admin.request(
        "POST",
        "/api/v1/report-definitions",
        {
            "name": f"cli mailed {uuid.uuid4()}",
            "reportType": "sessions",
            "format": "csv",
            "parameters": {"fromDate": "2026-01-01", "toDate": "2026-01-03"},
            "deliveries": [
                {"kind": "email", "recipients": [recipient], "attach": "never"},
                {"kind": "api", "mode": "async"},
            ],
        },
    )
    assert saved.status == 201, saved.body
    run = admin.request("POST", f"/api/v1/reports/{saved.body['definitionId']}/generate")
    assert run.status == 202, run.body
    report_id = run.body["reportId"]
    assert admin.wait_until_terminal(report_id)["status"] == "Completed"
    with Client(stack.base_url, token) as client:

        def delivered(attempts: int) -> Callable[[], list[Delivery]]:
            def states() -> list[Delivery]:
                """the run's e-mail delivery Delivered after that many attempts"""
                found = client.deliveries(report_id)
                return [d for d in found if (d.status, d.attempts) == ("Delivered", attempts)]

            return states

        (delivery,) = eventually(delivered(1), timeout=30)
        # As the dispatcher records a refusal that fails the target for good.
        with stack.sessions() as session:
            session.execute(
                text(
                    "UPDATE deliveries SET state = 'Failed', last_error = :error, "
                    "delivered_at = NULL WHERE id = :id"
                ),
                {"error": "550 5.1.1 mailbox unavailable", "id": delivery.delivery_id},
            )
            session.commit()
        env = cli_env(stack, token)

        listed = reportbox("deliveries", "list", report_id, env=env)
        status = reportbox("status", report_id, env=env)
        retried = reportbox("deliveries", "retry", report_id, delivery.delivery_id, env=env)

        assert listed.returncode == 0, listed.stderr
        heading, row = listed.stdout.splitlines()
        assert heading.startswith("DELIVERY ID")
        assert heading.split()[2:] == ["KIND", "STATUS", "ATTEMPTS", "DELIVERED", "LAST", "ERROR"]
        assert row.split()[:4] == [delivery.delivery_id, "email", "Failed", "1"]
        assert row.endswith("550 5.1.1 mailbox unavailable")
        assert status.returncode == 0, status.stderr
        assert "delivery   email Failed (1 attempt)" in status.stdout
        assert retried.returncode == 0, retried.stderr
        assert f"delivery {delivery.delivery_id} of report {report_id}" in retried.stdout
        # Sent again for real: a second attempt, and a second message.
        eventually(delivered(2), timeout=30)
    mailed = [path for path in stack.mail_dir.glob("*.eml") if recipient in path.read_text()]
    assert len(mailed) == 2

"""`reportbox definitions ...` and `reportbox schedules preview` against a scripted server."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime

import pytest

from client.cli.definition_output import definition_text, preview_text, until_text
from client.cli.main import main
from client.definitions import Definition, SchedulePreview
from tests.unit.scripted_server import ScriptedServer
from tests.unit.test_client_definitions import DEFINITION_ID, RUN_ID, definition, problem

NOW = datetime(2026, 3, 20, 9, 0, tzinfo=UTC)
FUTURE_RUNS = ["2099-03-23T06:00:00+01:00", "2099-03-30T06:00:00+02:00"]
SESSIONS_TYPE = {
    "name": "sessions",
    "title": "Listening sessions",
    "formats": ["csv"],
    "roles": ["analyst"],
    "parameters": {
        "type": "object",
        "properties": {"userId": {"type": "integer"}, "fromDate": {}, "toDate": {}},
    },
}


@pytest.fixture
def server():
    with ScriptedServer() as server:
        yield server


@pytest.fixture
def reportbox(server, capsys):
    """Runs the command line against the server: (exit code, stdout, stderr)."""

    def run(*argv: str) -> tuple[int, str, str]:
        try:
            code = main(list(argv), env={"REPORTBOX_URL": server.url, "REPORTBOX_TOKEN": "t"})
        except SystemExit as exit:  # argparse refusing the command line
            code = int(exit.code or 0)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def sent(server: ScriptedServer, index: int = -1) -> tuple[str, str, object]:
    received = server.received[index]
    body = json.loads(received.body) if received.body else None
    return received.method, received.path, body


def test_show_prints_every_fact_and_the_next_runs_with_their_offsets():
    shown = definition_text(Definition.from_json(definition()), NOW)

    assert shown == "\n".join(
        [
            f"definition  {DEFINITION_ID}",
            "name        Weekly sessions",
            "description Monday morning numbers",
            "type        sessions (csv)",
            'parameters  {"country": "DE"}',
            "period      previousWeek",
            "schedule    0 6 * * 1 in Europe/Berlin",
            "deliveries  api async",
            "send when   always",
            "state       active",
            "owner       user-1",
            f"last run    {RUN_ID} Completed (schedule for 2026-03-16 06:00 +01:00)",
            "failures    0 in a row",
            "next runs   2026-03-23 06:00 +01:00  (in 2 d 20 h)",
            "            2026-03-30 06:00 +02:00  (in 9 d 19 h)",
        ]
    )


def test_a_paused_definition_says_why_and_that_nothing_is_due():
    paused = definition(
        active=False,
        pausedReason="5 failed runs in a row",
        nextRuns=[],
        nextRunAt=None,
        consecutiveFailures=5,
        lastRun=None,
    )
    shown = definition_text(Definition.from_json(paused), NOW).splitlines()

    assert "state       paused: 5 failed runs in a row" in shown
    assert "failures    5 in a row" in shown
    assert "last run    -" in shown
    assert shown[-1] == "next runs   none while paused"


@pytest.mark.parametrize(
    ("instant", "text"),
    [
        ("2026-03-20T09:04:59+00:00", "in 4 min"),
        ("2026-03-20T12:30:00+01:00", "in 2 h 30 min"),
        ("2026-03-22T10:00:00+00:00", "in 2 d 1 h"),
        ("2026-03-20T08:59:00+00:00", "due"),
    ],
)
def test_how_far_away_an_instant_is(instant, text):
    assert until_text(datetime.fromisoformat(instant), NOW) == text


def test_a_preview_lists_the_instants_with_their_offsets():
    preview = SchedulePreview(
        "30 2 * * *",
        "Europe/Berlin",
        "At 02:30 every day",
        [
            datetime.fromisoformat("2026-03-28T02:30:00+01:00"),
            datetime.fromisoformat("2026-03-29T03:00:00+02:00"),
        ],
    )
    assert preview_text(preview, NOW) == (
        "30 2 * * * in Europe/Berlin\n"
        "At 02:30 every day\n"
        "            2026-03-28 02:30 +01:00  (in 7 d 16 h)\n"
        "            2026-03-29 03:00 +02:00  (in 8 d 16 h)"
    )


def test_definitions_list_prints_a_table(server, reportbox):
    server.add(
        200,
        {
            "items": [
                definition(nextRuns=FUTURE_RUNS),
                definition(definitionId="d-2", active=False, schedule=None, nextRuns=[]),
            ],
            "page": 1,
            "pageSize": 20,
            "total": 2,
        },
    )

    code, out, _ = reportbox("definitions", "list")

    assert code == 0
    assert sent(server) == ("GET", "/api/v1/report-definitions?page=1&pageSize=20", None)
    header, first, second = out.splitlines()
    columns = ["DEFINITION ID", "NAME", "TYPE", "FORMAT", "SCHEDULE", "STATE", "NEXT RUN"]
    assert re.split(r"\s{2,}", header) == columns
    assert re.split(r"\s{2,}", first) == [
        DEFINITION_ID,
        "Weekly sessions",
        "sessions",
        "csv",
        "0 6 * * 1 in Europe/Berlin",
        "active",
        "2099-03-23 06:00 +01:00",
    ]
    assert re.split(r"\s{2,}", second) == [
        "d-2",
        "Weekly sessions",
        "sessions",
        "csv",
        "-",
        "paused",
        "-",
    ]
    assert first.index("active") == header.index("STATE")  # aligned under its heading


def test_definitions_list_all_walks_the_pages_and_json_gives_the_apis_items(server, reportbox):
    server.add(200, {"items": [definition()], "page": 1, "pageSize": 100, "total": 101})
    server.add(
        200, {"items": [definition(definitionId="d-2")], "page": 2, "pageSize": 100, "total": 101}
    )

    code, out, _ = reportbox("definitions", "list", "--all", "--json")

    assert code == 0
    assert json.loads(out) == {"items": [definition(), definition(definitionId="d-2")], "total": 2}
    assert server.received[1].path == "/api/v1/report-definitions?page=2&pageSize=100"


def test_definitions_show_prints_the_definition(server, reportbox):
    server.add(200, definition(nextRuns=FUTURE_RUNS))

    code, out, _ = reportbox("definitions", "show", DEFINITION_ID)

    assert code == 0
    assert sent(server) == ("GET", f"/api/v1/report-definitions/{DEFINITION_ID}", None)
    lines = out.splitlines()
    assert lines[0] == f"definition  {DEFINITION_ID}"
    assert re.fullmatch(r"next runs   2099-03-23 06:00 \+01:00  \(in \d+ d \d+ h\)", lines[-2])
    assert re.fullmatch(r" {12}2099-03-30 06:00 \+02:00  \(in \d+ d \d+ h\)", lines[-1])


def test_definitions_show_of_an_unknown_id_exits_8_with_one_line(server, reportbox):
    server.add(404, problem(404, "Not Found", detail="No such report definition."))

    code, out, err = reportbox("definitions", "show", DEFINITION_ID)

    assert (code, out) == (8, "")
    assert err == "error: No such report definition. (HTTP 404)\n"


def test_definitions_show_refuses_an_id_that_is_not_a_uuid(server, reportbox):
    code, _, err = reportbox("definitions", "show", "weekly")

    assert code == 2
    assert "'weekly' is not a definition id (a UUID)" in err
    assert server.received == []


def test_definitions_create_sends_the_definition(server, reportbox):
    server.add(200, {"items": [SESSIONS_TYPE]})  # the catalog, to type --param values
    server.add(201, definition(nextRuns=FUTURE_RUNS))

    code, out, _ = reportbox(
        "definitions",
        "create",
        "--name",
        "Weekly sessions",
        "--type",
        "sessions",
        "--format",
        "csv",
        "--param",
        "userId=42",
        "--period",
        "previousWeek",
        "--cron",
        "0 6 * * 1",
        "--timezone",
        "Europe/Berlin",
        "--description",
        "Monday morning numbers",
        "--mode",
        "sync",
        "--send-when",
        "hasRows",
    )

    assert code == 0
    assert out == f"definition {DEFINITION_ID} created; next run 2099-03-23 06:00 +01:00\n"
    assert sent(server) == (
        "POST",
        "/api/v1/report-definitions",
        {
            "name": "Weekly sessions",
            "reportType": "sessions",
            "format": "csv",
            "parameters": {"userId": 42},
            "period": "previousWeek",
            "schedule": {"cron": "0 6 * * 1", "timezone": "Europe/Berlin"},
            "deliveries": [{"kind": "api", "mode": "sync"}],
            "sendWhen": "hasRows",
            "description": "Monday morning numbers",
        },
    )


def test_definitions_create_with_dates_and_no_schedule(server, reportbox, tmp_path):
    parameters_file = tmp_path / "p.json"
    parameters_file.write_text('{"country": "FR"}')
    server.add(200, {"items": [SESSIONS_TYPE]})
    server.add(201, definition(schedule=None, nextRuns=[]))

    code, out, _ = reportbox(
        "definitions",
        "create",
        "--name",
        "Q1",
        "--type",
        "sessions",
        "--from",
        "2026-01-01",
        "--to",
        "2026-03-31",
        "--params-file",
        str(parameters_file),
    )

    assert (code, out) == (0, f"definition {DEFINITION_ID} created\n")
    assert sent(server)[2] == {
        "name": "Q1",
        "reportType": "sessions",
        "format": "csv",
        "parameters": {"country": "FR", "fromDate": "2026-01-01", "toDate": "2026-03-31"},
    }


def test_definitions_create_with_a_cron_but_no_zone_is_a_usage_error(server, reportbox):
    code, _, err = reportbox(
        "definitions", "create", "--name", "x", "--type", "sessions", "--cron", "@daily"
    )

    assert code == 2
    assert err.startswith("error: --cron and --timezone go together")
    assert server.received == []


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [
        (422, 5, "schedule.timezone: unknown time zone Mars/Base (HTTP 422)"),
        (409, 8, "schedule.timezone: unknown time zone Mars/Base (HTTP 409)"),
        (403, 4, "schedule.timezone: unknown time zone Mars/Base (HTTP 403)"),
    ],
)
def test_definitions_create_refused_exits_by_the_table(server, reportbox, status, code, message):
    server.add(
        status,
        problem(status, "Refused", errors={"schedule.timezone": ["unknown time zone Mars/Base"]}),
    )

    result = reportbox(
        "definitions",
        "create",
        "--name",
        "x",
        "--type",
        "sessions",
        "--cron",
        "@daily",
        "--timezone",
        "Mars/Base",
    )

    assert result == (code, "", f"error: {message}\n")


def accepted_run() -> dict:
    return {
        "reportId": RUN_ID,
        "jobId": RUN_ID,
        "reportType": "sessions",
        "status": "Pending",
        "statusUrl": f"http://reportbox.test/api/v1/reports/{RUN_ID}",
    }


def run_report(server: ScriptedServer, status: str, content: bytes = b"") -> dict:
    body: dict = {
        "reportId": RUN_ID,
        "reportType": "sessions",
        "format": "csv",
        "status": status,
        "definitionId": DEFINITION_ID,
        "trigger": "generate",
    }
    if status == "Completed":
        body["file"] = {
            "name": "weekly.csv",
            "contentType": "text/csv",
            "sizeBytes": len(content),
            "rows": 1,
            "sha256": hashlib.sha256(content).hexdigest(),
        }
        body["downloadUrl"] = f"{server.url}/bucket/{RUN_ID}.csv?X-Amz-Signature=secret"
    if status == "Failed":
        body["error"] = {"code": "query_failed", "message": "boom"}
    return body


def test_definitions_generate_prints_the_runs_id(server, reportbox):
    server.add(202, accepted_run())

    code, out, _ = reportbox("definitions", "generate", DEFINITION_ID)

    assert (code, out) == (0, f"{RUN_ID}\n")
    method, path, body = sent(server)
    assert (method, path, body) == ("POST", f"/api/v1/reports/{DEFINITION_ID}/generate", None)
    assert server.received[0].headers["idempotency-key"]


def test_definitions_generate_wait_follows_the_run_and_downloads_it(server, reportbox, tmp_path):
    content = b"session_id\n1\n"
    server.add(202, accepted_run(), headers={"Retry-After": "0"})
    server.add(200, run_report(server, "Completed", content))  # the wait's look
    server.add(200, run_report(server, "Completed", content))  # the download's fresh look
    server.add(200, content)

    code, out, err = reportbox(
        "definitions", "generate", DEFINITION_ID, "--wait", "-o", str(tmp_path)
    )

    assert code == 0
    assert out == (
        f"report {RUN_ID} Completed: 1 rows, {len(content)} bytes\n"
        f"saved {tmp_path / 'weekly.csv'} ({len(content)} bytes, sha256 verified)\n"
    )
    assert f"report {RUN_ID}: Pending" in err  # the progress of `request --wait`
    assert (tmp_path / "weekly.csv").read_bytes() == content


def test_definitions_generate_wait_of_a_failed_run_exits_1(server, reportbox):
    server.add(202, accepted_run(), headers={"Retry-After": "0"})
    server.add(200, run_report(server, "Failed"))

    code, out, _ = reportbox("definitions", "generate", DEFINITION_ID, "--wait")

    assert (code, out) == (1, f"report {RUN_ID} Failed: query_failed: boom\n")


def test_definitions_generate_of_a_sync_definition_exits_8(server, reportbox):
    title = "Report is not configured for asynchronous generation."
    server.add(409, problem(409, title, error=title))

    code, _, err = reportbox("definitions", "generate", DEFINITION_ID)

    assert (code, err) == (8, f"error: {title} (HTTP 409)\n")


def test_definitions_content_saves_the_file(server, reportbox, tmp_path):
    server.add(200, b"a,b\n1,2\n", headers={"Content-Type": "text/csv"})
    target = tmp_path / "now.csv"

    code, out, _ = reportbox("definitions", "content", DEFINITION_ID, "-o", str(target))

    assert (code, out) == (0, f"saved {target} (8 bytes)\n")
    assert sent(server)[:2] == ("GET", f"/api/v1/report-definitions/{DEFINITION_ID}/content")
    assert target.read_bytes() == b"a,b\n1,2\n"


@pytest.mark.parametrize(("status", "code"), [(409, 8), (422, 5), (504, 7)])
def test_definitions_content_refused_exits_by_the_table(server, reportbox, tmp_path, status, code):
    server.add(status, problem(status, "Refused", detail="because"))

    result = reportbox("definitions", "content", DEFINITION_ID, "-o", str(tmp_path / "x.csv"))

    assert result == (code, "", f"error: because (HTTP {status})\n")
    assert list(tmp_path.iterdir()) == []


def test_definitions_pause_and_resume_patch_active(server, reportbox):
    server.add(200, definition(active=False, nextRuns=[]))
    server.add(200, definition(nextRuns=FUTURE_RUNS))

    paused = reportbox("definitions", "pause", DEFINITION_ID)
    resumed = reportbox("definitions", "resume", DEFINITION_ID)

    assert paused == (0, f"definition {DEFINITION_ID} paused\n", "")
    assert resumed == (
        0,
        f"definition {DEFINITION_ID} resumed; next run 2099-03-23 06:00 +01:00\n",
        "",
    )
    path = f"/api/v1/report-definitions/{DEFINITION_ID}"
    assert [sent(server, index) for index in (0, 1)] == [
        ("PATCH", path, {"active": False}),
        ("PATCH", path, {"active": True}),
    ]


def test_definitions_delete(server, reportbox):
    server.add(204)
    server.add(404, problem(404, "Not Found"))

    deleted = reportbox("definitions", "delete", DEFINITION_ID)
    again = reportbox("definitions", "delete", DEFINITION_ID)

    assert deleted == (0, f"definition {DEFINITION_ID} deleted; its runs stay in the history\n", "")
    assert sent(server, 0) == ("DELETE", f"/api/v1/report-definitions/{DEFINITION_ID}", None)
    assert again == (8, "", "error: Not Found (HTTP 404)\n")


def test_list_of_a_definitions_runs(server, reportbox):
    server.add(
        200, {"items": [run_report(server, "Pending")], "page": 1, "pageSize": 20, "total": 1}
    )

    code, out, _ = reportbox("list", "--definition", DEFINITION_ID)

    assert code == 0
    assert sent(server)[1] == f"/api/v1/reports?page=1&pageSize=20&definitionId={DEFINITION_ID}"
    assert RUN_ID in out


def test_schedules_preview(server, reportbox):
    server.add(
        200,
        {
            "description": "At 02:30 every day",
            "instants": ["2099-03-28T02:30:00+01:00", "2099-03-29T03:00:00+02:00"],
        },
    )

    code, out, _ = reportbox(
        "schedules",
        "preview",
        "--cron",
        "30 2 * * *",
        "--timezone",
        "Europe/Berlin",
        "--count",
        "2",
    )

    assert code == 0
    assert sent(server)[:2] == (
        "GET",
        "/api/v1/schedules/preview?cron=30+2+%2A+%2A+%2A&timezone=Europe%2FBerlin&count=2",
    )
    lines = out.splitlines()
    assert lines[:2] == ["30 2 * * * in Europe/Berlin", "At 02:30 every day"]
    assert re.fullmatch(r" {12}2099-03-29 03:00 \+02:00  \(in \d+ d \d+ h\)", lines[3])


def test_schedules_preview_refused_exits_5(server, reportbox):
    server.add(
        422, problem(422, "Unprocessable", errors={"schedule.cron": ["has a seconds field"]})
    )

    result = reportbox("schedules", "preview", "--cron", "0 0 6 * * *", "--timezone", "UTC")

    assert result == (5, "", "error: schedule.cron: has a seconds field (HTTP 422)\n")


def test_schedules_preview_needs_cron_and_zone(server, reportbox):
    code, _, err = reportbox("schedules", "preview", "--cron", "@daily")

    assert code == 2
    assert "--timezone" in err

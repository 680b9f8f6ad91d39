"""The client's report definition and schedule calls against a scripted HTTP server."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest

from client import (
    Client,
    Conflict,
    Definition,
    LastRun,
    NotFound,
    Schedule,
    ServerError,
    ValidationError,
)
from tests.unit.scripted_server import ScriptedServer

DEFINITION_ID = "0d3f5a7c-0000-4000-8000-0000000000d1"
RUN_ID = "6f1c2d4e-0000-4000-8000-000000000002"
BERLIN_WINTER = timezone(timedelta(hours=1))
BERLIN_SUMMER = timezone(timedelta(hours=2))


def definition(**changes: object) -> dict:
    return {
        "definitionId": DEFINITION_ID,
        "name": "Weekly sessions",
        "description": "Monday morning numbers",
        "reportType": "sessions",
        "format": "csv",
        "parameters": {"country": "DE"},
        "period": "previousWeek",
        "schedule": {"cron": "0 6 * * 1", "timezone": "Europe/Berlin"},
        "deliveries": [{"kind": "api", "mode": "async"}],
        "sendWhen": "always",
        "active": True,
        "owner": "user-1",
        "createdAt": "2026-03-01T10:00:00+00:00",
        "updatedAt": "2026-03-02T10:00:00+00:00",
        "nextRunAt": "2026-03-23T05:00:00+00:00",
        "nextRuns": ["2026-03-23T06:00:00+01:00", "2026-03-30T06:00:00+02:00"],
        "lastRun": {
            "reportId": RUN_ID,
            "status": "Completed",
            "scheduledFor": "2026-03-16T06:00:00+01:00",
            "trigger": "schedule",
        },
        "consecutiveFailures": 0,
        "pausedReason": None,
        **changes,
    }


def problem(status: int, title: str, **extra: object) -> dict:
    return {"type": "about:blank", "title": title, "status": status, **extra}


@pytest.fixture
def server():
    with ScriptedServer() as server:
        yield server


@pytest.fixture(scope="module")
def http():
    with httpx.Client(timeout=10) as http:
        yield http


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(server: ScriptedServer, sleeps: list[float], http: httpx.Client):
    with Client(server.url, "t", sleep=sleeps.append, rng=lambda: 1.0, http=http) as client:
        yield client


def sent_json(server: ScriptedServer, index: int = 0) -> object:
    return json.loads(server.received[index].body)


def test_a_definition_reads_every_field_in_python_names():
    parsed = Definition.from_json(definition())

    assert parsed.definition_id == DEFINITION_ID
    assert (parsed.name, parsed.report_type, parsed.format) == (
        "Weekly sessions",
        "sessions",
        "csv",
    )
    assert parsed.description == "Monday morning numbers"
    assert parsed.parameters == {"country": "DE"}
    assert parsed.period == "previousWeek"
    assert parsed.schedule == Schedule("0 6 * * 1", "Europe/Berlin")
    assert parsed.deliveries == [{"kind": "api", "mode": "async"}]
    assert parsed.api_mode == "async"
    assert (parsed.send_when, parsed.active, parsed.owner) == ("always", True, "user-1")
    assert parsed.created_at == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert parsed.updated_at == datetime(2026, 3, 2, 10, tzinfo=UTC)
    assert parsed.next_run_at == datetime(2026, 3, 23, 5, tzinfo=UTC)
    # Each instant keeps the offset the server gave it: winter, then summer time.
    assert [run.utcoffset() for run in parsed.next_runs] == [
        timedelta(hours=1),
        timedelta(hours=2),
    ]
    assert parsed.next_runs[1] == datetime(2026, 3, 30, 6, tzinfo=BERLIN_SUMMER)
    assert parsed.last_run == LastRun(
        RUN_ID, "Completed", datetime(2026, 3, 16, 6, tzinfo=BERLIN_WINTER), "schedule"
    )
    assert (parsed.consecutive_failures, parsed.paused_reason) == (0, None)
    assert parsed.raw == definition()


def test_a_definition_without_schedule_or_run_reads_none():
    parsed = Definition.from_json(
        definition(schedule=None, lastRun=None, nextRunAt=None, nextRuns=[], deliveries=[])
    )
    assert (parsed.schedule, parsed.last_run, parsed.next_run_at) == (None, None, None)
    assert parsed.next_runs == []
    assert parsed.api_mode is None


def test_create_posts_the_camel_case_body_and_reads_the_definition(server, client):
    server.add(
        201, definition(), headers={"Location": f"/api/v1/report-definitions/{DEFINITION_ID}"}
    )

    created = client.create_definition(
        "Weekly sessions",
        "sessions",
        "csv",
        parameters={"country": "DE"},
        period="previousWeek",
        schedule=Schedule("0 6 * * 1", "Europe/Berlin"),
        deliveries=[{"kind": "api", "mode": "async"}],
        send_when="always",
        description="Monday morning numbers",
    )

    assert created.definition_id == DEFINITION_ID
    (received,) = server.received
    assert (received.method, received.path) == ("POST", "/api/v1/report-definitions")
    assert received.headers["authorization"] == "Bearer t"
    assert received.headers["content-type"] == "application/json"
    assert sent_json(server) == {
        "name": "Weekly sessions",
        "reportType": "sessions",
        "format": "csv",
        "parameters": {"country": "DE"},
        "period": "previousWeek",
        "schedule": {"cron": "0 6 * * 1", "timezone": "Europe/Berlin"},
        "deliveries": [{"kind": "api", "mode": "async"}],
        "sendWhen": "always",
        "description": "Monday morning numbers",
    }


def test_create_leaves_out_what_was_not_given_for_the_server_defaults(server, client):
    server.add(201, definition(schedule=None))

    client.create_definition("Ad hoc", "sessions", parameters={"fromDate": "2026-01-01"})

    assert sent_json(server) == {
        "name": "Ad hoc",
        "reportType": "sessions",
        "format": "csv",
        "parameters": {"fromDate": "2026-01-01"},
    }


@pytest.mark.parametrize(
    ("status", "error_type"), [(409, Conflict), (422, ValidationError), (404, NotFound)]
)
def test_create_refusals_are_typed_with_their_problem_details(server, client, status, error_type):
    server.add(
        status,
        problem(status, "Refused", errors={"schedule.timezone": ["unknown time zone Mars/Base"]}),
    )

    with pytest.raises(error_type) as raised:
        client.create_definition("x", "sessions", schedule=Schedule("@daily", "Mars/Base"))

    assert raised.value.status == status
    assert raised.value.errors == {"schedule.timezone": ["unknown time zone Mars/Base"]}
    assert len(server.received) == 1  # a refusal is never retried


def test_list_definitions_sends_the_page_and_reads_it(server, client):
    server.add(200, {"items": [definition()], "page": 2, "pageSize": 5, "total": 6})

    page = client.list_definitions(page=2, page_size=5)

    assert server.received[0].method == "GET"
    assert server.received[0].path == "/api/v1/report-definitions?page=2&pageSize=5"
    assert [item.definition_id for item in page.items] == [DEFINITION_ID]
    assert (page.page, page.page_size, page.total) == (2, 5, 6)


def test_iter_definitions_walks_every_page_once(server, client):
    first = [definition(definitionId=f"d-{n}") for n in (1, 2)]
    second = [definition(definitionId=f"d-{n}") for n in (2, 3)]  # d-2 pushed down meanwhile
    server.add(200, {"items": first, "page": 1, "pageSize": 2, "total": 4})
    server.add(200, {"items": second, "page": 2, "pageSize": 2, "total": 4})

    ids = [item.definition_id for item in client.iter_definitions(page_size=2)]

    assert ids == ["d-1", "d-2", "d-3"]
    assert [received.path for received in server.received] == [
        "/api/v1/report-definitions?page=1&pageSize=2",
        "/api/v1/report-definitions?page=2&pageSize=2",
    ]


def test_get_definition_reads_it_and_a_404_is_not_found(server, client):
    server.add(200, definition())
    server.add(404, problem(404, "Not Found", detail="No such report definition."))

    assert client.get_definition(DEFINITION_ID).name == "Weekly sessions"
    with pytest.raises(NotFound, match="No such report definition"):
        client.get_definition(DEFINITION_ID)

    assert [(item.method, item.path) for item in server.received] == [
        ("GET", f"/api/v1/report-definitions/{DEFINITION_ID}"),
        ("GET", f"/api/v1/report-definitions/{DEFINITION_ID}"),
    ]


def test_update_patches_the_changes_in_the_apis_names(server, client):
    server.add(200, definition(active=False, sendWhen="hasRows", schedule=None))

    updated = client.update_definition(
        DEFINITION_ID, active=False, send_when="hasRows", schedule=None
    )

    assert (updated.active, updated.send_when, updated.schedule) == (False, "hasRows", None)
    received = server.received[0]
    assert (received.method, received.path) == (
        "PATCH",
        f"/api/v1/report-definitions/{DEFINITION_ID}",
    )
    # None is sent: it is how a schedule is removed.
    assert sent_json(server) == {"active": False, "sendWhen": "hasRows", "schedule": None}


def test_update_sends_a_schedule_as_its_object(server, client):
    server.add(200, definition())

    client.update_definition(Definition.from_json(definition()), schedule=Schedule("@daily", "UTC"))

    assert sent_json(server) == {"schedule": {"cron": "@daily", "timezone": "UTC"}}


def test_update_refused_is_a_validation_error(server, client):
    server.add(422, problem(422, "Unprocessable", errors={"schedule.cron": ["too frequent"]}))

    with pytest.raises(ValidationError, match=r"schedule\.cron: too frequent"):
        client.update_definition(DEFINITION_ID, schedule=Schedule("* * * * *", "UTC"))


def test_delete_sends_a_delete_and_a_404_is_not_found(server, client):
    server.add(204)
    server.add(404, problem(404, "Not Found"))

    assert client.delete_definition(DEFINITION_ID) is None
    with pytest.raises(NotFound):
        client.delete_definition(DEFINITION_ID)

    assert server.received[0].method == "DELETE"
    assert server.received[0].path == f"/api/v1/report-definitions/{DEFINITION_ID}"


def accepted_run() -> dict:
    return {
        "reportId": RUN_ID,
        "jobId": RUN_ID,
        "reportType": "sessions",
        "status": "Pending",
        "statusUrl": f"http://reportbox.test/api/v1/reports/{RUN_ID}",
        "createdAt": "2026-03-20T09:00:00+00:00",
    }


def test_generate_posts_with_an_idempotency_key_kept_over_retries(server, client, sleeps):
    server.add(503, problem(503, "Service Unavailable"), headers={"Retry-After": "1"})
    server.add(
        202,
        accepted_run(),
        headers={"Retry-After": "2", "Location": f"/api/v1/reports/{RUN_ID}"},
    )

    accepted = client.generate(DEFINITION_ID)

    assert (accepted.report_id, accepted.job_id, accepted.status) == (RUN_ID, RUN_ID, "Pending")
    assert accepted.status_url == f"http://reportbox.test/api/v1/reports/{RUN_ID}"
    assert accepted.retry_after == 2.0
    first, second = server.received
    assert (first.method, first.path) == ("POST", f"/api/v1/reports/{DEFINITION_ID}/generate")
    assert first.body == b""
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"]
    assert sleeps == [1.0]


def test_generate_sends_the_callers_idempotency_key(server, client):
    server.add(202, accepted_run(), headers={"Idempotent-Replayed": "true"})

    accepted = client.generate(DEFINITION_ID, idempotency_key="monday-run")

    assert server.received[0].headers["idempotency-key"] == "monday-run"
    assert accepted.replayed


def test_generate_of_a_definition_not_async_is_a_conflict(server, client):
    title = "Report is not configured for asynchronous generation."
    server.add(409, problem(409, title, error=title))

    with pytest.raises(Conflict, match="not configured for asynchronous") as raised:
        client.generate(DEFINITION_ID)

    assert raised.value.body["error"] == title


def test_generate_of_an_unknown_definition_is_not_found(server, client):
    server.add(404, problem(404, "Not Found"))
    with pytest.raises(NotFound):
        client.generate(DEFINITION_ID)


def test_definition_content_streams_the_file_to_the_path(server, client, tmp_path):
    content = b"session_id,user_id\n1,2\n"
    server.add(200, content, headers={"Content-Type": "text/csv"})
    target = tmp_path / "out.csv"

    assert client.definition_content(DEFINITION_ID, target) == target

    assert target.read_bytes() == content
    assert sorted(tmp_path.iterdir()) == [target]
    received = server.received[0]
    assert (received.method, received.path) == (
        "GET",
        f"/api/v1/report-definitions/{DEFINITION_ID}/content",
    )
    assert received.headers["authorization"] == "Bearer t"


def test_definition_content_in_a_folder_takes_the_plain_name_it_is_given(server, client, tmp_path):
    server.add(
        200,
        b"{}",
        headers={
            "Content-Type": "application/json",
            "Content-Disposition": 'attachment; filename="weekly-sessions.json"',
        },
    )
    server.add(
        200,
        b"[]",
        headers={
            "Content-Type": "application/json",
            "Content-Disposition": 'attachment; filename="../escape.json"',
        },
    )

    first = client.definition_content(DEFINITION_ID, tmp_path)
    second = client.definition_content(DEFINITION_ID, tmp_path)

    assert first == tmp_path / "weekly-sessions.json"
    assert second == tmp_path / f"report-{DEFINITION_ID}.json"  # never outside the folder
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([first.name, second.name])


@pytest.mark.parametrize(
    ("status", "error_type", "title"),
    [
        (409, Conflict, "Report is configured for asynchronous generation."),
        (422, ValidationError, "More than 10,000 rows: generate it asynchronously."),
        (504, ServerError, "The file took longer than 10 s to build."),
    ],
)
def test_definition_content_refusals_are_typed_and_leave_no_file(
    server, client, tmp_path, sleeps, status, error_type, title
):
    server.add(status, problem(status, title))
    existing = tmp_path / "out.csv"
    existing.write_bytes(b"yesterday")

    with pytest.raises(error_type, match=re.escape(title)):
        client.definition_content(DEFINITION_ID, existing)

    assert len(server.received) == 1  # a 504 here is the server's own limit: no retry
    assert sleeps == []
    assert list(tmp_path.iterdir()) == [existing]
    assert existing.read_bytes() == b"yesterday"


def test_definition_content_retries_a_busy_server(server, client, tmp_path, sleeps):
    server.add(503, problem(503, "Service Unavailable"), headers={"Retry-After": "1"})
    server.add(200, b"a,b\n", headers={"Content-Type": "text/csv"})

    path = client.definition_content(DEFINITION_ID, tmp_path / "x.csv")

    assert path.read_bytes() == b"a,b\n"
    assert sleeps == [1.0]


def test_preview_schedule_sends_the_query_and_reads_the_instants(server, client):
    server.add(
        200,
        {
            "cron": "30 2 * * *",
            "timezone": "Europe/Berlin",
            "description": "At 02:30 every day",
            "instants": ["2026-03-28T02:30:00+01:00", "2026-03-29T03:00:00+02:00"],
        },
    )

    preview = client.preview_schedule(
        "30 2 * * *", "Europe/Berlin", from_=datetime(2026, 3, 27, 12, tzinfo=UTC), count=2
    )

    assert server.received[0].method == "GET"
    assert server.received[0].path == (
        "/api/v1/schedules/preview?cron=30+2+%2A+%2A+%2A&timezone=Europe%2FBerlin&count=2"
        "&from=2026-03-27T12%3A00%3A00%2B00%3A00"
    )
    assert preview.description == "At 02:30 every day"
    assert (preview.cron, preview.timezone) == ("30 2 * * *", "Europe/Berlin")
    # The spring change skips 02:30: it fires right after the jump, with the new offset.
    assert preview.instants == [
        datetime(2026, 3, 28, 2, 30, tzinfo=BERLIN_WINTER),
        datetime(2026, 3, 29, 3, 0, tzinfo=BERLIN_SUMMER),
    ]


def test_preview_schedule_asks_for_five_from_now_by_default(server, client):
    server.add(200, {"instants": ["2026-03-28T02:30:00+01:00"]})

    preview = client.preview_schedule("30 2 * * *", "Europe/Berlin")

    assert "from=" not in server.received[0].path
    assert "count=5" in server.received[0].path
    assert preview.instants == [datetime(2026, 3, 28, 2, 30, tzinfo=BERLIN_WINTER)]
    assert preview.description is None


def test_preview_schedule_refused_names_the_field(server, client):
    server.add(
        422, problem(422, "Unprocessable", errors={"schedule.cron": ["has a seconds field"]})
    )

    with pytest.raises(ValidationError) as raised:
        client.preview_schedule("0 0 6 * * *", "UTC")

    assert raised.value.errors == {"schedule.cron": ["has a seconds field"]}


def test_runs_read_their_definition_trigger_and_instant(server, client):
    run = {
        "reportId": RUN_ID,
        "reportType": "sessions",
        "format": "csv",
        "status": "Pending",
        "definitionId": DEFINITION_ID,
        "trigger": "schedule",
        "scheduledFor": "2026-03-23T06:00:00+01:00",
    }
    older = {
        key: value
        for key, value in run.items()
        if key not in ("definitionId", "trigger", "scheduledFor")
    }
    server.add(200, {"items": [run, older], "page": 1, "pageSize": 20, "total": 2})

    page = client.history(definition_id=DEFINITION_ID)

    assert server.received[0].path == (
        f"/api/v1/reports?page=1&pageSize=20&definitionId={DEFINITION_ID}"
    )
    first, second = page.items
    assert (first.definition_id, first.trigger) == (DEFINITION_ID, "schedule")
    assert first.scheduled_for == datetime(2026, 3, 23, 6, tzinfo=BERLIN_WINTER)
    # An older server's report has none of them.
    assert (second.definition_id, second.trigger, second.scheduled_for) == (None, None, None)


def test_iter_history_passes_the_definition_filter_on_every_page(server, client):
    run = {"reportId": RUN_ID, "reportType": "sessions", "status": "Completed"}
    server.add(200, {"items": [run], "page": 1, "pageSize": 1, "total": 2})
    server.add(200, {"items": [run | {"reportId": "r-2"}], "page": 2, "pageSize": 1, "total": 2})

    ids = [item.report_id for item in client.iter_history(definition_id="d-1", page_size=1)]

    assert ids == [RUN_ID, "r-2"]
    assert all("definitionId=d-1" in received.path for received in server.received)

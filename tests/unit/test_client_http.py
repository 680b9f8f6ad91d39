"""The client against a scripted HTTP server: retries, typed errors, checksums, waiting."""

from __future__ import annotations

import hashlib
import json

import httpx
import pytest

from client import (
    AuthenticationError,
    ChecksumMismatch,
    Client,
    Conflict,
    NotDownloadable,
    NotFound,
    PermissionDenied,
    RateLimited,
    ReportFailed,
    ServerError,
    Unavailable,
    ValidationError,
    WaitTimeout,
)
from client.errors import ApiError
from tests.unit.scripted_server import ScriptedServer

REPORT_ID = "6f1c2d4e-0000-4000-8000-000000000001"
ACCEPTED = {
    "reportId": REPORT_ID,
    "reportType": "sessions",
    "status": "Pending",
    "statusUrl": f"http://reportbox.test/api/v1/reports/{REPORT_ID}",
    "createdAt": "2026-12-01T12:00:00+00:00",
}


def report(status: str = "Pending", **extra: object) -> dict:
    return {
        "reportId": REPORT_ID,
        "reportType": "sessions",
        "format": "csv",
        "parameters": {"fromDate": "2026-01-01", "toDate": "2026-01-31"},
        "status": status,
        "cancelRequested": False,
        "createdAt": "2026-12-01T12:00:00+00:00",
        "progress": {"rowsProcessed": 0, "rowsTotal": None, "percent": None},
        "error": None,
        "file": None,
        "downloadUrl": None,
        **extra,
    }


def completed(server: ScriptedServer, content: bytes, sha256: str | None = None) -> dict:
    return report(
        "Completed",
        file={
            "name": "sessions.csv",
            "contentType": "text/csv",
            "sizeBytes": len(content),
            "rows": 2,
            "sha256": sha256 or hashlib.sha256(content).hexdigest(),
        },
        downloadUrl=f"{server.url}/bucket/acme/{REPORT_ID}.csv?X-Amz-Signature=secret",
    )


@pytest.fixture
def server():
    with ScriptedServer() as server:
        yield server


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture(scope="module")
def http():
    # One for all tests: building an httpx.Client (its TLS context) is the slow part.
    with httpx.Client(timeout=10) as http:
        yield http


@pytest.fixture
def client(server: ScriptedServer, sleeps: list[float], http: httpx.Client):
    # rng 1.0: the backoff's jitter at its top, so the delays are known.
    with Client(server.url, "t", sleep=sleeps.append, rng=lambda: 1.0, http=http) as client:
        yield client


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_a_retryable_answer_is_retried_with_the_same_idempotency_key(
    server, client, sleeps, status
):
    server.add(status, {"title": "busy", "status": status}, headers={"Retry-After": "7"})
    server.add(202, ACCEPTED, headers={"Retry-After": "2"})

    accepted = client.request_report("sessions", "csv", fromDate="2026-01-01")

    assert accepted.report_id == REPORT_ID
    assert accepted.retry_after == 2.0
    assert sleeps == [7.0]  # the server's Retry-After, not our backoff
    first, second = server.received
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"]
    assert first.body == second.body
    assert json.loads(first.body) == {"format": "csv", "parameters": {"fromDate": "2026-01-01"}}
    assert first.headers["authorization"] == "Bearer t"


def test_a_dropped_connection_is_retried_with_backoff_and_the_same_key(server, client, sleeps):
    server.drop()
    server.drop()
    server.add(202, ACCEPTED)

    client.request_report("sessions")

    assert len(server.received) == 3
    assert len({received.headers["idempotency-key"] for received in server.received}) == 1
    assert sleeps == [0.5, 1.0]  # BACKOFF_BASE * 2**attempt, at the jitter's top


def test_each_call_gets_its_own_idempotency_key(server, client):
    server.add(202, ACCEPTED)
    server.add(202, ACCEPTED)

    client.request_report("sessions")
    client.request_report("sessions")

    keys = [received.headers["idempotency-key"] for received in server.received]
    assert keys[0] != keys[1]


def test_after_the_retries_the_last_refusal_is_raised(server, client, sleeps):
    for _ in range(3):
        server.add(503, {"title": "Service Unavailable", "status": 503, "detail": "db down"})

    with pytest.raises(ServerError) as raised:
        client.get(REPORT_ID)

    assert len(server.received) == 3  # max_retries=2
    assert raised.value.status == 503
    assert raised.value.detail == "db down"
    assert len(sleeps) == 2


def test_an_unreachable_server_is_unavailable_after_the_retries(sleeps, http):
    with ScriptedServer() as gone:
        url = gone.url
    with (
        Client(url, "t", sleep=sleeps.append, rng=lambda: 0.0, http=http) as client,
        pytest.raises(Unavailable, match="after 3 attempts"),
    ):
        client.report_types()
    assert len(sleeps) == 2


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (400, ApiError),
        (401, AuthenticationError),
        (403, PermissionDenied),
        (404, NotFound),
        (409, Conflict),
        (422, ValidationError),
        (500, ServerError),
    ],
)
def test_other_refusals_are_not_retried_and_carry_the_problem_details(
    server, client, sleeps, status, error_type
):
    server.add(
        status,
        {
            "type": "about:blank",
            "title": "Refused",
            "status": status,
            "detail": "because",
            "errors": {"parameters.toDate": ["must not be before fromDate"]},
            "existingReportId": "abc",
        },
    )

    with pytest.raises(error_type) as raised:
        client.request_report("sessions")

    assert type(raised.value) is error_type
    assert len(server.received) == 1
    assert sleeps == []
    error = raised.value
    assert (error.status, error.title, error.detail) == (status, "Refused", "because")
    assert error.errors == {"parameters.toDate": ["must not be before fromDate"]}
    assert error.existing_report_id == "abc"
    assert str(error).startswith("parameters.toDate: must not be before fromDate")
    assert str(error).endswith(f"(HTTP {status})")


def test_a_429_after_the_retries_is_rate_limited_with_its_retry_after(server, client):
    for _ in range(3):
        server.add(
            429, {"title": "Too Many Requests", "status": 429}, headers={"Retry-After": "30"}
        )

    with pytest.raises(RateLimited) as raised:
        client.request_report("sessions")

    assert raised.value.retry_after == 30.0


def test_a_download_saves_the_file_when_the_checksum_matches(server, client, tmp_path):
    content = b"session_id,user_id\n1,2\n"
    server.add(200, completed(server, content))
    server.add(200, content)

    path = client.download(REPORT_ID, tmp_path)

    assert path == tmp_path / "sessions.csv"
    assert path.read_bytes() == content
    assert sorted(tmp_path.iterdir()) == [path]
    storage_request = server.received[1]
    assert storage_request.path.startswith(f"/bucket/acme/{REPORT_ID}.csv?")
    assert "authorization" not in storage_request.headers  # our token never goes to storage


@pytest.mark.parametrize("corruption", ["sha256", "size"])
def test_a_checksum_mismatch_raises_and_leaves_no_file(server, client, tmp_path, corruption):
    content = b"session_id,user_id\n1,2\n"
    if corruption == "sha256":
        server.add(200, completed(server, content, sha256="0" * 64))
        server.add(200, content)
    else:
        server.add(200, completed(server, content))
        server.add(200, content[:-3])
    existing = tmp_path / "out.csv"
    existing.write_bytes(b"yesterday's file")

    with pytest.raises(ChecksumMismatch, match="nothing was saved"):
        client.download(REPORT_ID, existing)

    assert list(tmp_path.iterdir()) == [existing]  # no partial or temporary file
    assert existing.read_bytes() == b"yesterday's file"


def test_a_storage_refusal_is_not_mistaken_for_ours(server, client, tmp_path):
    content = b"x"
    server.add(200, completed(server, content))
    server.add(403, b"<Error>AccessDenied</Error>", headers={"Content-Type": "application/xml"})

    with pytest.raises(ApiError) as raised:
        client.download(REPORT_ID, tmp_path / "out.csv")

    assert type(raised.value) is ApiError  # not PermissionDenied: the token was fine
    assert "storage" in str(raised.value)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_report_raises_report_failed_on_download(server, client, tmp_path):
    server.add(200, report("Failed", error={"code": "query_failed", "message": "boom"}))

    with pytest.raises(ReportFailed) as raised:
        client.download(REPORT_ID, tmp_path / "out.csv")

    assert (raised.value.code, raised.value.message) == ("query_failed", "boom")


def test_a_running_report_is_not_downloadable(server, client, tmp_path):
    server.add(200, report("Processing"))

    with pytest.raises(NotDownloadable, match="Processing"):
        client.download(REPORT_ID, tmp_path / "out.csv")


def test_wait_honours_retry_after_then_backs_off_until_terminal(server, client, sleeps):
    server.add(202, ACCEPTED, headers={"Retry-After": "3"})
    server.add(200, report("Pending"))
    server.add(
        200, report("Processing", progress={"rowsProcessed": 10, "rowsTotal": 20, "percent": 50.0})
    )
    server.add(200, report("Completed"))
    seen = []

    final = client.wait(client.request_report("sessions"), on_progress=seen.append)

    assert final.status == "Completed"
    assert [item.status for item in seen] == ["Pending", "Processing", "Completed"]
    assert seen[1].progress.percent == 50.0
    # Retry-After 3 s (plus at most 20 % jitter, here all of it), then pauses growing from 1 s.
    assert sleeps == pytest.approx([3.6, 1.2, 1.8])


def test_wait_rides_out_an_api_outage_longer_than_the_retries(server, client):
    # A restart or a deploy of the API while a script waits: the report lives on in the
    # database, so the wait goes on through more 503s than one request retries.
    server.add(200, report("Pending"))
    for _ in range(12):
        server.add(503, {"title": "Service Unavailable", "status": 503})
    server.add(200, report("Completed"))
    seen = []

    final = client.wait(REPORT_ID, on_progress=seen.append)

    assert final.status == "Completed"
    assert [item.status for item in seen] == ["Pending", "Completed"]


def test_wait_raises_a_refusal_that_no_retry_can_mend_at_once(server, client):
    server.add(200, report("Pending"))
    server.add(404, {"title": "Not Found", "status": 404})

    with pytest.raises(NotFound):
        client.wait(REPORT_ID)


def test_wait_gives_up_on_an_outage_only_past_its_deadline(server, client):
    for _ in range(12):
        server.add(503, {"title": "Service Unavailable", "status": 503})

    with pytest.raises(ServerError):
        client.wait(REPORT_ID, timeout=0)


def test_wait_raises_wait_timeout_with_the_last_report(server, client):
    server.add(200, report("Processing"))
    with pytest.raises(WaitTimeout) as raised:
        client.wait(REPORT_ID, timeout=0)
    assert raised.value.report.status == "Processing"


def test_cancel_of_a_report_already_cancelled_returns_it(server, client):
    server.add(409, {"title": "Conflict", "status": 409})
    server.add(200, report("Cancelled"))

    assert client.cancel(REPORT_ID).status == "Cancelled"


def test_cancel_of_a_completed_report_is_a_conflict(server, client):
    server.add(409, {"title": "Conflict", "status": 409, "detail": "The report is Completed"})
    server.add(200, report("Completed"))

    with pytest.raises(Conflict, match="Completed"):
        client.cancel(REPORT_ID)


def test_iter_history_walks_every_page_once(server, client):
    first = [report() | {"reportId": f"id-{n}"} for n in (1, 2)]
    second = [report() | {"reportId": f"id-{n}"} for n in (2, 3)]  # id-2 pushed down meanwhile
    server.add(200, {"items": first, "page": 1, "pageSize": 2, "total": 4})
    server.add(200, {"items": second, "page": 2, "pageSize": 2, "total": 4})

    ids = [item.report_id for item in client.iter_history(status="Completed", page_size=2)]

    assert ids == ["id-1", "id-2", "id-3"]
    assert server.received[0].path == "/api/v1/reports?page=1&pageSize=2&status=Completed"

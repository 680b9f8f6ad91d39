"""What operators see, read from the real processes: metrics that move with their events,
readiness that follows the database and the broker, and one report's story in JSON logs."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.faultstack import SMALL_REPORT, FaultStack, eventually
from tests.services import free_port

pytestmark = pytest.mark.e2e


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError as error:  # not listening yet
        return 0, str(error)


def send(url: str, method: str) -> int:
    """The status of one request with any method at all (0 when the server hangs up)."""
    request = urllib.request.Request(url, method=method, data=b"{}")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def samples(url: str) -> dict[tuple[str, frozenset], float]:
    status, body = get(url)
    assert status == 200, body
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def value(found: dict, name: str, **labels: str) -> float:
    """The sum over every series of `name` whose labels include `labels` (0 when none)."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in found.items() if n == name and wanted <= ls)


def started(stack: FaultStack) -> tuple[str, str]:
    """api, one relay and one worker with metrics ports; their /metrics URLs."""
    relay_port, worker_port = free_port(), free_port()
    stack.start_api()
    stack.start_relay(metrics_port=relay_port)
    stack.start_worker(metrics_port=worker_port)
    relay, worker = f"http://127.0.0.1:{relay_port}", f"http://127.0.0.1:{worker_port}"
    eventually(lambda: get(f"{relay}/readyz")[0] == 200, timeout=30)
    eventually(lambda: get(f"{worker}/readyz")[0] == 200, timeout=30)
    return relay, worker


def test_each_metric_moves_when_its_event_happens(make_stack):
    stack = make_stack()
    relay, worker = started(stack)
    api_before = samples(f"{stack.base_url}/metrics")

    ids = [stack.request().body["reportId"] for _ in range(4)]  # several gunicorn workers answer
    stack.wait_terminal(ids, timeout=60)
    eventually(
        lambda: value(samples(f"{worker}/metrics"), "reportbox_worker_exports_in_flight") == 0, 10
    )

    api = samples(f"{stack.base_url}/metrics")
    created = "reportbox_reports_created_total"
    assert (
        value(api, created, type="sessions", format="csv")
        - value(api_before, created, type="sessions", format="csv")
        == 4
    )
    requests = "reportbox_http_request_duration_seconds_count"
    route = "/api/v1/reports/<report_type_name>"
    assert value(api, requests, route=route, method="POST", status="202") >= 4
    # Finished reports are counted where they finish, not read from the table.
    assert not value(api, "reportbox_reports", status="Completed")
    assert not any(label in {"org", "user", "owner"} for (_, ls) in api for label, _ in ls)
    published = samples(f"{relay}/metrics")
    assert value(published, "reportbox_relay_confirms_total") == 4
    assert value(published, "reportbox_relay_publish_latency_seconds_count") == 4
    assert value(published, "reportbox_outbox_pending") == 0
    assert value(published, "reportbox_outbox_oldest_pending_age_seconds") == 0
    exported = samples(f"{worker}/metrics")
    assert value(exported, "reportbox_reports_completed_total", type="sessions") == 4
    rows = sum(stack.report(report_id).row_count for report_id in ids)
    assert value(exported, "reportbox_worker_rows_exported_total", format="csv") == rows
    duration = "reportbox_worker_export_duration_seconds_count"
    assert value(exported, duration, format="csv", outcome="completed") == 4

    stack.proxies["s3"].cut()  # a transient fault: the report is retried
    retried = stack.request().body["reportId"]
    eventually(lambda: value(samples(f"{worker}/metrics"), "reportbox_worker_retries_total"), 60)
    stack.proxies["s3"].restore()
    stack.wait_terminal([retried], timeout=90)
    stack.publish(b"not json", message_id=str(uuid.uuid4()))  # poison: dead-lettered
    eventually(
        lambda: value(samples(f"{worker}/metrics"), "reportbox_worker_dead_letters_total") == 1, 30
    )


def test_the_api_under_gunicorn_bounds_its_labels_and_times_every_refusal(make_stack):
    stack = make_stack()
    stack.start_api()
    for method in ("ZZZ", "M00001", "X-Y!", "PROPFIND"):
        for path in ("/api/v1/reports", f"/nowhere/{uuid.uuid4()}", "/metrics"):
            send(f"{stack.base_url}{path}", method)
    for _ in range(4):  # several gunicorn workers answer
        assert send(f"{stack.base_url}/api/v1/reports/sessions", "POST") == 401

    api = samples(f"{stack.base_url}/metrics")
    requests = "reportbox_http_request_duration_seconds_count"
    methods = {dict(labels)["method"] for (name, labels) in api if name == requests}
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}
    routes = {dict(labels)["route"] for (name, labels) in api if name == requests}
    assert not [route for route in routes if "nowhere" in route], routes
    route = "/api/v1/reports/<report_type_name>"
    assert value(api, requests, route=route, method="POST", status="401") == 4


def test_each_process_counts_the_reports_it_ends(make_stack):
    """The API what it cancels, the worker what fails, the relay's sweep what expires."""
    stack = make_stack()
    stack.start_api()
    client = stack.client()
    cancelled = client.request_report("sessions", SMALL_REPORT).body["reportId"]
    assert client.request("DELETE", f"/api/v1/reports/{cancelled}").body["status"] == "Cancelled"
    api = samples(f"{stack.base_url}/metrics")
    assert value(api, "reportbox_reports_cancelled_total", type="sessions") == 1

    relay_port, worker_port = free_port(), free_port()
    # A file lives one second; the worker refuses any PDF longer than one row.
    stack.start_worker(metrics_port=worker_port, report_retention_hours=1 / 3600, pdf_max_rows=1)
    stack.start_relay(metrics_port=relay_port, cleanup_interval_seconds=0.5)
    relay, worker = f"http://127.0.0.1:{relay_port}", f"http://127.0.0.1:{worker_port}"
    failed = client.request_report("sessions", SMALL_REPORT, format="pdf").body["reportId"]
    expired = client.request_report("sessions", SMALL_REPORT).body["reportId"]
    stack.wait_terminal([failed], timeout=60)
    eventually(lambda: stack.statuses([expired]) == {"Expired": 1}, timeout=60)

    assert stack.statuses([failed]) == {"Failed": 1}
    exported = samples(f"{worker}/metrics")
    assert value(exported, "reportbox_reports_failed_total", type="sessions") == 1
    assert value(exported, "reportbox_reports_completed_total", type="sessions") == 1
    swept = samples(f"{relay}/metrics")
    assert value(swept, "reportbox_reports_expired_total", type="sessions") == 1


def test_readiness_is_red_while_the_database_or_the_broker_is_cut_and_green_after(
    make_stack,
):
    stack = make_stack()
    relay, worker = started(stack)

    for service in ("postgres", "rabbitmq"):
        stack.proxies[service].cut()
        for process in (relay, worker):
            eventually(lambda p=process: get(f"{p}/readyz")[0] == 503, timeout=60)
            assert get(f"{process}/healthz")[0] == 200  # alive, only not ready
        stack.proxies[service].restore()
        for process in (relay, worker):
            eventually(lambda p=process: get(f"{p}/readyz")[0] == 200, timeout=60)


def test_one_report_is_followed_by_its_id_through_the_json_logs_of_all_three(make_stack):
    stack = make_stack(log_format="json")
    stack.start_api()
    stack.start_relay()
    stack.start_worker()
    client = stack.client()

    report_id = client.request_report(
        "sessions", {"fromDate": "2026-01-01", "toDate": "2026-01-02"}
    ).body["reportId"]
    report = client.wait_until_terminal(report_id)
    assert report["status"] == "Completed"
    status, location = client.redirect_target(f"/api/v1/reports/{report_id}/download")
    assert status == 302
    stack.stop_all()

    logs = {
        process.name: process.log_path.read_text(errors="replace") for process in stack.processes
    }
    story = []
    for name, text in logs.items():
        for line in text.splitlines():
            if line.startswith("{"):
                record = json.loads(line)
                assert {"timestamp", "level", "logger", "event"} <= set(record)
                if record.get("report_id") == report_id:
                    story.append((name, record))
    events = {(name.split("-")[0], record["event"]) for name, record in story}
    assert {
        ("api", "report.accepted"),
        ("relay", "relay.published"),
        ("worker", "export.started"),
        ("worker", "export.completed"),
    } <= events, events
    message_ids = {record["message_id"] for _, record in story if "message_id" in record}
    assert len(message_ids) == 1, message_ids  # one message, named on every line that has one
    everything = "".join(logs.values())
    assert client.token not in everything
    assert report["downloadUrl"] not in everything and location not in everything
    assert "X-Amz-Signature=" not in everything or "X-Amz-Signature=[redacted]" in everything

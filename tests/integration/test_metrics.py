"""The API's /metrics: bounded labels, every answer timed, and a database figure that costs
at most one query per METRICS_CACHE_SECONDS; reports counted by outcome where they change."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import event, text

from api.active_reports import ActiveReports
from api.app import create_app
from api.auth import Principal
from api.metrics import METHODS
from api.reports import service
from relay.sweeper import Sweeper
from shared.storage import Storage, UploadedObject
from worker.lifecycle import Lifecycle

REQUESTS = "reportbox_http_request_duration_seconds_count"
POST_ROUTE = "/api/v1/reports/<report_type_name>"


def label_values(label: str) -> set[str]:
    return {
        sample.labels[label]
        for family in REGISTRY.collect()
        if family.name == "reportbox_http_request_duration_seconds"
        for sample in family.samples
    }


def timed(route: str, method: str, status: int) -> float:
    labels = {"route": route, "method": method, "status": str(status)}
    return REGISTRY.get_sample_value(REQUESTS, labels) or 0.0


def counted(outcome: str, report_type: str = "sessions") -> float:
    name = f"reportbox_reports_{outcome}_total"
    return REGISTRY.get_sample_value(name, {"type": report_type}) or 0.0


@contextlib.contextmanager
def reports_queries(engine) -> Iterator[list[str]]:
    """Every statement on `engine` that reads the reports table, as it is sent."""
    seen: list[str] = []

    def record(connection, cursor, statement, *_) -> None:
        if "FROM reports" in statement:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


# ---------------------------------------------------------------- 1. bounded labels


def test_made_up_methods_and_paths_add_no_label_values(client):
    for method in ("ZZZ", "M00001", "X-Y!", "PROPFIND"):
        for path in ("/api/v1/reports", f"/nowhere/{uuid.uuid4()}", "/metrics"):
            client.open(path, method=method)
    for path in (f"/x/{uuid.uuid4()}", f"/api/v1/{uuid.uuid4()}"):
        assert client.get(path).status_code == 404

    assert label_values("method") <= METHODS | {"other"}
    assert timed("unmatched", "other", 405) + timed("unmatched", "other", 404) >= 1
    assert not {route for route in label_values("route") if "nowhere" in route or "/x/" in route}


# ---------------------------------------------------------------- 2. every answer timed


def test_refusals_by_the_hooks_are_timed(client, make_token):
    headers = {"Authorization": f"Bearer {make_token()}"}
    url = "/api/v1/reports/sessions"
    cases = [
        (401, {}),  # no token: refused by the token check, the first hook but the timer
        (400, {"headers": headers, "data": "{not json", "content_type": "application/json"}),
        (413, {"headers": headers, "data": "[" * 70_000, "content_type": "application/json"}),
        (415, {"headers": headers, "data": "format=csv", "content_type": "text/plain"}),
    ]
    for status, request in cases:
        before = timed(POST_ROUTE, "POST", status)
        assert client.post(url, **request).status_code == status
        assert timed(POST_ROUTE, "POST", status) == before + 1, status


# ---------------------------------------------------------------- 3. counters, cached figure


@pytest.fixture
def cached_app(settings):
    """An app whose /metrics reads the database at most once an hour."""
    app = create_app(settings.with_overrides(metrics_cache_seconds=3600))
    yield app
    app.extensions["reportbox"].engine.dispose()


def test_scrapes_within_the_cache_window_cost_one_query(cached_app):
    engine = cached_app.extensions["reportbox"].engine
    client = cached_app.test_client()
    with reports_queries(engine) as queries:
        for _ in range(30):
            assert client.get("/metrics").status_code == 200
    assert len(queries) == 1
    assert "count(*)" in queries[0] and "'Pending', 'Processing'" in queries[0]


def test_processes_sharing_the_folder_share_the_one_query(engine, tmp_path, make_report):
    """Two gunicorn workers: the second finds the first one's figure, and asks nothing."""
    make_report()
    first, second = (ActiveReports(engine, 3600, tmp_path) for _ in range(2))
    with reports_queries(engine) as queries:
        figure = first.rows()
        assert second.rows() == figure
        assert second.rows() == figure
    assert len(queries) == 1
    stale = ActiveReports(engine, 0, tmp_path)  # no cache: it reads each time
    with reports_queries(engine) as queries:
        stale.rows()
        stale.rows()
    assert len(queries) == 2


def test_the_figure_holds_only_reports_in_flight(engine, sessions, make_report):
    active = ActiveReports(engine, 0, None)
    pending = make_report(report_format="json").id
    ended = make_report(report_format="json").id
    # A whole terminal row (other tests read the shared history against the document).
    with sessions.begin() as session:
        session.execute(
            text("UPDATE reports SET status = 'Cancelled', completed_at = now() WHERE id = :id"),
            {"id": ended},
        )
    rows = active.rows()
    assert rows is not None
    assert {status for status, *_ in rows} <= {"Pending", "Processing"}
    by_key = {(status, report_type, fmt): n for status, report_type, fmt, n in rows}
    assert by_key[("Pending", "sessions", "json")] >= 1
    assert pending  # counted above among the Pending ones


def test_the_figure_reads_the_active_reports_by_the_partial_index(engine):
    from api.active_reports import ACTIVE_COUNTS

    with engine.begin() as connection:
        connection.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(connection.execute(text(f"EXPLAIN {ACTIVE_COUNTS.text}")).scalars())
    assert "reports_active_request" in plan, plan


def test_the_worker_counts_what_it_completes_fails_and_cancels(engine, sessions, make_report):
    lifecycle = Lifecycle(engine, lease_seconds=60, retention_seconds=3600, max_attempts=1)
    before = {outcome: counted(outcome) for outcome in ("completed", "failed", "cancelled")}

    done = lifecycle.claim(make_report().id)
    uploaded = UploadedObject("reports/x.csv", 1, "0" * 64)
    assert lifecycle.complete(done, uploaded, "x.csv", "text/csv", 1)
    assert not lifecycle.complete(done, uploaded, "x.csv", "text/csv", 1)  # made once only
    failed = lifecycle.claim(make_report().id)
    assert lifecycle.fail(failed, "boom", "It broke.")
    cancelled = make_report()
    claim = lifecycle.claim(cancelled.id)
    with sessions.begin() as session:
        session.execute(
            text("UPDATE reports SET cancel_requested = true WHERE id = :id"), {"id": cancelled.id}
        )
    assert lifecycle.cancel(claim)
    given_up = make_report().id
    with sessions.begin() as session:
        session.execute(text("UPDATE reports SET attempts = 1 WHERE id = :id"), {"id": given_up})
    assert lifecycle.give_up(given_up) == 1

    assert counted("completed") == before["completed"] + 1
    assert counted("failed") == before["failed"] + 2
    assert counted("cancelled") == before["cancelled"] + 1


def test_the_api_counts_a_pending_report_it_cancels_not_a_running_one(
    engine, sessions, make_report
):
    before = counted("cancelled")
    pending = make_report()
    service.cancel_report(sessions, Principal(pending.owner_id, "acme", frozenset()), pending.id)
    assert counted("cancelled") == before + 1

    running = make_report()
    Lifecycle(engine, lease_seconds=60, retention_seconds=3600).claim(running.id)
    service.cancel_report(sessions, Principal(running.owner_id, "acme", frozenset()), running.id)
    assert counted("cancelled") == before + 1  # its worker counts it when it stops


def test_the_sweep_counts_what_it_expires_by_type(settings, sessions, make_report):
    Sweeper(settings, sessions, Storage(settings)).run_once()  # what earlier tests left
    before = counted("expired", "users")
    ids = [make_report("users", {}).id for _ in range(2)]
    with sessions.begin() as session:
        session.execute(
            text(
                "UPDATE reports SET status = 'Completed', expires_at = now() - interval '1 hour' "
                "WHERE id = ANY(:ids)"
            ),
            {"ids": ids},
        )
    assert Sweeper(settings, sessions, Storage(settings)).run_once().expired == 2
    assert counted("expired", "users") == before + 2

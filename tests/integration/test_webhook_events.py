"""Webhook events are written in the transaction of the status change that causes them: one
message per (event, endpoint) that subscribed, none when the change does not happen."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from relay.scheduler import Scheduler
from relay.sweeper import Sweeper
from shared.storage import Storage, UploadedObject
from shared.webhooks.events import record_report_events
from tests.integration.test_scheduler import make_definition  # noqa: F401 (a fixture)
from tests.integration.webhook_helpers import make_endpoint, messages_of
from worker.lifecycle import Lifecycle

UPLOADED = UploadedObject("no/such/object.csv", 12, "b" * 64)


@pytest.fixture
def org() -> str:
    return f"hooks-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def lifecycle(settings, engine):
    return Lifecycle(engine, settings.lease_seconds, 3600, max_attempts=2)


def complete(lifecycle, report) -> bool:
    claim = lifecycle.claim(report.id)
    return lifecycle.complete(claim, UPLOADED, "sessions.csv", "text/csv", 3)


def test_a_completion_writes_one_message_per_subscribed_endpoint(
    engine, org, make_report, lifecycle
):
    everything, _ = make_endpoint(engine, org)
    sessions_only, _ = make_endpoint(
        engine, org, event_types=["report.completed"], report_types=["sessions"]
    )
    users_only, _ = make_endpoint(
        engine, org, event_types=["report.completed"], report_types=["users"]
    )
    failures_only, _ = make_endpoint(engine, org, event_types=["report.failed"])
    elsewhere, _ = make_endpoint(engine, f"{org}-other")
    report = make_report(org=org)

    assert complete(lifecycle, report)

    for endpoint_id in (everything, sessions_only):
        (message,) = messages_of(engine, endpoint_id)
        assert message.event_type == "report.completed"
        assert message.state == "pending" and message.attempts == 0
        assert message.report_id == report.id
        assert message.snapshot["status"] == "Completed"
        assert message.snapshot["file_name"] == "sessions.csv"
        assert message.snapshot["sha256"] == "b" * 64
    for endpoint_id in (users_only, failures_only, elsewhere):
        assert messages_of(engine, endpoint_id) == []


def test_a_transition_that_does_not_happen_writes_nothing(engine, org, make_report, lifecycle):
    endpoint_id, _ = make_endpoint(engine, org)
    report = make_report(org=org)
    claim = lifecycle.claim(report.id)
    assert lifecycle.complete(claim, UPLOADED, "sessions.csv", "text/csv", 3)
    # A redelivered message's second completion matches nothing: no second event.
    assert not lifecycle.complete(claim, UPLOADED, "sessions.csv", "text/csv", 3)
    assert not lifecycle.fail(claim, "late", "too late")
    assert [m.event_type for m in messages_of(engine, endpoint_id)] == ["report.completed"]


def test_the_event_rolls_back_with_its_transition(engine, org, make_report):
    endpoint_id, _ = make_endpoint(engine, org)
    report = make_report(org=org)
    with pytest.raises(RuntimeError), engine.begin() as connection:
        connection.execute(
            text("UPDATE reports SET status = 'Cancelled' WHERE id = :id"), {"id": report.id}
        )
        assert record_report_events(connection, "report.cancelled", [report.id]) == 1
        raise RuntimeError("the transaction fails after the event was written")
    assert messages_of(engine, endpoint_id) == []


def test_a_failure_and_a_give_up_write_report_failed(engine, org, make_report, lifecycle):
    endpoint_id, _ = make_endpoint(engine, org)
    failed = make_report(org=org)
    claim = lifecycle.claim(failed.id)
    assert lifecycle.fail(claim, "boom", "the query failed")
    spent = make_report(org=org, parameters={"fromDate": "2026-02-01", "toDate": "2026-02-02"})
    with engine.begin() as connection:
        connection.execute(text("UPDATE reports SET attempts = 2 WHERE id = :id"), {"id": spent.id})
    assert lifecycle.give_up(spent.id) == 2
    messages = messages_of(engine, endpoint_id)
    assert [(m.event_type, m.report_id) for m in messages] == [
        ("report.failed", failed.id),
        ("report.failed", spent.id),
    ]
    assert messages[0].snapshot["error_code"] == "boom"
    assert messages[1].snapshot["error_code"] == "gave_up"


def test_a_cancel_through_the_api_and_a_cancelled_export_write_report_cancelled(
    engine, org, make_report, lifecycle, client, make_token
):
    endpoint_id, _ = make_endpoint(engine, org, event_types=["report.cancelled"])
    pending = make_report(org=org, user_id="alice")
    answer = client.delete(
        f"/api/v1/reports/{pending.id}",
        headers={"Authorization": f"Bearer {make_token(sub='alice', org=org)}"},
    )
    assert answer.status_code == 202
    running = make_report(org=org, parameters={"fromDate": "2026-03-01", "toDate": "2026-03-02"})
    claim = lifecycle.claim(running.id)
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE reports SET cancel_requested = true WHERE id = :id"), {"id": running.id}
        )
    assert lifecycle.cancel(claim)
    assert [(m.event_type, m.report_id) for m in messages_of(engine, endpoint_id)] == [
        ("report.cancelled", pending.id),
        ("report.cancelled", running.id),
    ]


def test_a_cancel_requested_of_a_processing_report_is_not_yet_an_event(
    engine, org, make_report, lifecycle, client, make_token
):
    endpoint_id, _ = make_endpoint(engine, org)
    report = make_report(org=org, user_id="alice")
    lifecycle.claim(report.id)
    answer = client.delete(
        f"/api/v1/reports/{report.id}",
        headers={"Authorization": f"Bearer {make_token(sub='alice', org=org)}"},
    )
    assert answer.status_code == 202
    assert messages_of(engine, endpoint_id) == []


def test_expiry_by_the_sweeper_writes_report_expired(
    settings, engine, sessions, org, make_report, lifecycle
):
    endpoint_id, _ = make_endpoint(engine, org, event_types=["report.expired"])
    report = make_report(org=org)
    assert complete(lifecycle, report)
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE reports SET expires_at = now() - interval '1 second' WHERE id = :id"),
            {"id": report.id},
        )
    Sweeper(settings, sessions, Storage(settings)).run_once()
    (message,) = messages_of(engine, endpoint_id)
    assert message.event_type == "report.expired" and message.report_id == report.id
    assert message.snapshot["status"] == "Expired"


def test_a_paused_definition_writes_definition_paused(
    settings,
    engine,
    org,
    make_definition,  # noqa: F811
):
    endpoint_id, _ = make_endpoint(engine, org, event_types=["definition.paused"])
    definition_id = make_definition(roles=("nobody",))  # its owner may not run it any more
    Scheduler(settings, engine).run_once()
    (message,) = messages_of(engine, endpoint_id)
    assert message.event_type == "definition.paused"
    assert message.definition_id == definition_id and message.report_id is None
    assert message.snapshot["active"] is False
    assert "may no longer request" in message.snapshot["paused_reason"]


def test_a_disabled_endpoint_gets_no_new_messages(engine, org, make_report, lifecycle):
    endpoint_id, _ = make_endpoint(engine, org)
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE webhook_endpoints SET disabled = true WHERE id = :id"),
            {"id": endpoint_id},
        )
    assert complete(lifecycle, make_report(org=org))
    assert messages_of(engine, endpoint_id) == []


def test_the_sweep_deletes_ended_messages_past_the_retention_and_keeps_the_rest(
    settings, engine, sessions, org, make_report, lifecycle
):
    endpoint_id, _ = make_endpoint(engine, org)
    for _ in range(3):
        assert complete(lifecycle, make_report(org=org, user_id=f"u-{uuid.uuid4().hex[:6]}"))
    old_delivered, old_pending, recent_failed = messages_of(engine, endpoint_id)
    with engine.begin() as connection:
        for message, state, days in (
            (old_delivered, "delivered", 40),
            (old_pending, "pending", 40),
            (recent_failed, "failed", 1),
        ):
            connection.execute(
                text(
                    "UPDATE webhook_messages SET state = :state, "
                    "occurred_at = now() - make_interval(days => :days) WHERE id = :id"
                ),
                {"state": state, "days": days, "id": message.id},
            )
    result = Sweeper(settings, sessions, Storage(settings)).run_once()
    assert result.webhook_messages_deleted >= 1
    left = {message.id for message in messages_of(engine, endpoint_id)}
    assert left == {old_pending.id, recent_failed.id}

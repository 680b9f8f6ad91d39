"""A definition on a one-minute schedule, saved through the API and run by two relays."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from tests.e2e.api_client import ApiClient
from tests.e2e.faultstack import eventually
from tests.processes import start_relay

pytestmark = pytest.mark.e2e

EVERY_MINUTE = "* * * * *"  # the stack allows it: SCHEDULE_MIN_INTERVAL_SECONDS=60


def test_a_definition_on_a_one_minute_schedule_runs_once_each_minute_with_two_relays(
    stack, make_token, tmp_path
):
    api = ApiClient(stack.base_url, make_token(sub=f"e2e-schedule-{uuid.uuid4().hex[:6]}"))
    second_relay = start_relay(stack.settings, tmp_path, name="relay-2")
    saved = api.request(
        "POST",
        "/api/v1/report-definitions",
        {
            "name": f"every minute {uuid.uuid4()}",
            "reportType": "sessions",
            "format": "csv",
            "parameters": {},
            "period": "previousDay",
            "schedule": {"cron": EVERY_MINUTE, "timezone": "Europe/Berlin"},
        },
    )
    assert saved.status == 201, saved.body
    definition_id = saved.body["definitionId"]
    try:

        def runs() -> list:
            with stack.sessions() as session:
                return session.execute(
                    text(
                        "SELECT scheduled_for, status, trigger FROM reports "
                        "WHERE definition_id = :id ORDER BY scheduled_for"
                    ),
                    {"id": definition_id},
                ).all()

        def two_runs_completed() -> list:
            """two runs, one a minute apart, both Completed"""
            made = runs()
            return made if len(made) >= 2 and all(r.status == "Completed" for r in made[:2]) else []

        made = eventually(two_runs_completed, timeout=180, interval=0.5)
        assert second_relay.alive()
    finally:
        assert second_relay.stop() == 0
        paused = api.request(
            "PATCH", f"/api/v1/report-definitions/{definition_id}", {"active": False}
        )
        assert paused.status == 200  # no more runs for later tests to meet
    instants = [row.scheduled_for for row in made]
    assert len(instants) == len(set(instants))  # never two runs for one instant
    assert (instants[1] - instants[0]).total_seconds() == 60
    assert {row.trigger for row in made} == {"schedule"}
    listed = api.request("GET", f"/api/v1/reports?definitionId={definition_id}").body
    assert {item["trigger"] for item in listed["items"]} == {"schedule"}
    assert listed["total"] >= 2

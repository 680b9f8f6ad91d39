"""A definition on a one-minute schedule, run by the schedulers of two real relays."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from tests.e2e.faultstack import eventually
from tests.processes import start_relay

pytestmark = pytest.mark.e2e

EVERY_MINUTE = "* * * * *"


def test_a_definition_on_a_one_minute_schedule_runs_once_each_minute_with_two_relays(
    stack, tmp_path
):
    second_relay = start_relay(stack.settings, tmp_path, name="relay-2")
    definition_id = uuid.uuid4()
    try:
        with stack.sessions.begin() as session:
            session.execute(
                text(
                    """
                    INSERT INTO report_definitions
                        (id, org, owner_id, owner_roles, name, report_type, format, parameters,
                         period, schedule_cron, schedule_timezone, next_run_at)
                    VALUES (:id, 'acme', 'e2e-schedule', ARRAY['analyst'], :name, 'sessions',
                            'csv', '{}', 'previousDay', :cron, 'Europe/Berlin',
                            date_trunc('minute', now()) + interval '1 minute')
                    """
                ),
                {
                    "id": definition_id,
                    "name": f"every minute {definition_id}",
                    "cron": EVERY_MINUTE,
                },
            )

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
        with stack.sessions.begin() as session:  # no more runs for later tests to meet
            session.execute(
                text("UPDATE report_definitions SET active = false WHERE id = :id"),
                {"id": definition_id},
            )
    instants = [row.scheduled_for for row in made]
    assert len(instants) == len(set(instants))  # never two runs for one instant
    assert (instants[1] - instants[0]).total_seconds() == 60
    assert {row.trigger for row in made} == {"schedule"}

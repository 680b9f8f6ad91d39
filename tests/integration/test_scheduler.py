"""The scheduler against the real database: exactly one run per instant, whatever races."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from relay.scheduler import Scheduler
from shared.db import connect_listener
from shared.definitions import runs

EVERY_FIVE_MINUTES = "*/5 * * * *"


def database_now(engine) -> datetime:
    with engine.connect() as connection:
        return connection.execute(text("SELECT now()")).scalar_one()


def latest_five_minute_instant(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return moment.replace(minute=moment.minute - moment.minute % 5, second=0, microsecond=0)


@pytest.fixture
def org() -> str:
    return f"sched-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def make_definition(engine, org):
    """Insert a definition of `org` directly; returns its id."""

    def make(
        *,
        cron: str = EVERY_FIVE_MINUTES,
        timezone: str = "UTC",
        next_run_at: datetime | None = None,
        period: str | None = "previousDay",
        parameters: dict | None = None,
        roles: tuple[str, ...] = ("analyst",),
        report_type: str = "sessions",
    ) -> uuid.UUID:
        definition_id = uuid.uuid4()
        if next_run_at is None:
            next_run_at = latest_five_minute_instant(database_now(engine))
        with engine.begin() as connection:
            connection.execute(
                text(
                    """
                    INSERT INTO report_definitions
                        (id, org, owner_id, owner_roles, name, report_type, format, parameters,
                         period, schedule_cron, schedule_timezone, next_run_at)
                    VALUES (:id, :org, 'alice', :roles, :name, :report_type, 'csv',
                            CAST(:parameters AS jsonb), :period, :cron, :timezone, :next_run_at)
                    """
                ),
                {
                    "id": definition_id,
                    "org": org,
                    "roles": list(roles),
                    "name": f"definition {definition_id}",
                    "report_type": report_type,
                    "parameters": json.dumps(parameters or {}),
                    "period": period,
                    "cron": cron,
                    "timezone": timezone,
                    "next_run_at": next_run_at,
                },
            )
        return definition_id

    return make


def runs_of(engine, org: str) -> list:
    with engine.connect() as connection:
        return connection.execute(
            text(
                """
                SELECT r.definition_id, r.scheduled_for, r.trigger, r.status, r.parameters,
                       (SELECT count(*) FROM outbox o WHERE o.report_id = r.id) AS messages
                FROM reports r WHERE r.org = :org AND r.definition_id IS NOT NULL
                """
            ),
            {"org": org},
        ).all()


def definition(engine, definition_id):
    with engine.connect() as connection:
        return connection.execute(
            text("SELECT * FROM report_definitions WHERE id = :id"), {"id": definition_id}
        ).one()


def test_three_schedulers_make_exactly_one_run_per_definition_and_instant(
    settings, engine, org, make_definition
):
    instant = latest_five_minute_instant(database_now(engine))
    ids = {make_definition(next_run_at=instant) for _ in range(200)}
    schedulers = [Scheduler(settings, engine) for _ in range(3)]
    start = threading.Barrier(3)
    errors: list[BaseException] = []

    def tick(scheduler: Scheduler) -> None:
        try:
            start.wait()
            scheduler.run_once()
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=tick, args=(s,)) for s in schedulers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    made = runs_of(engine, org)
    assert sorted(row.definition_id for row in made) == sorted(ids)  # one each, none missing
    assert {row.scheduled_for for row in made} == {instant}
    assert all(row.trigger == "schedule" and row.status == "Pending" for row in made)
    assert all(row.messages == 1 for row in made)  # each with its outbox message
    for definition_id in list(ids)[:5]:
        assert definition(engine, definition_id).next_run_at == instant + timedelta(minutes=5)
    # Another tick finds nothing due: no second run for the same instant.
    Scheduler(settings, engine).run_once()
    assert len(runs_of(engine, org)) == 200


def test_a_scheduler_that_dies_between_claim_and_commit_loses_nothing(
    settings, engine, org, make_definition
):
    definition_id = make_definition()
    dying = engine.connect()
    transaction = dying.begin()
    claimed = dying.execute(runs.CLAIM_DUE, {"limit": 1000}).all()
    assert definition_id in {row.id for row in claimed}
    # Meanwhile another scheduler skips the locked definition...
    Scheduler(settings, engine).run_once()
    assert runs_of(engine, org) == []
    # ...and once the claimant is gone (its transaction never committed), takes it.
    transaction.rollback()
    dying.close()
    Scheduler(settings, engine).run_once()
    assert [row.definition_id for row in runs_of(engine, org)] == [definition_id]


def test_after_a_two_hour_outage_only_the_newest_missed_instant_runs(
    settings, engine, org, make_definition
):
    now = database_now(engine)
    two_hours_ago = latest_five_minute_instant(now - timedelta(hours=2))
    definition_id = make_definition(next_run_at=two_hours_ago)
    result = Scheduler(settings, engine).run_once()
    made = runs_of(engine, org)
    assert len(made) == 1
    assert made[0].scheduled_for == latest_five_minute_instant(now)
    assert result.missed >= 24  # the instants of two hours, every five minutes, but the newest
    assert definition(engine, definition_id).next_run_at > now


def test_an_instant_later_than_the_grace_does_not_run(settings, engine, org, make_definition):
    now = database_now(engine)
    new_year = "0 6 1 1 *"  # its newest instant is months ago (unless it is 1 January now)
    years_ago = datetime(now.year - 3, 1, 1, 6, tzinfo=UTC)
    definition_id = make_definition(cron=new_year, next_run_at=years_ago)
    result = Scheduler(
        settings.with_overrides(schedule_misfire_grace_seconds=60), engine
    ).run_once()
    assert runs_of(engine, org) == []
    assert result.missed >= 3
    assert definition(engine, definition_id).next_run_at == datetime(
        now.year + 1, 1, 1, 6, tzinfo=UTC
    )


def test_an_instant_that_finds_the_previous_run_in_progress_is_skipped(
    settings, engine, org, make_definition
):
    definition_id = make_definition()
    instant = definition(engine, definition_id).next_run_at
    with engine.begin() as connection:  # the previous instant's run, still Pending
        connection.execute(
            text(
                """
                INSERT INTO reports (id, org, owner_id, report_type, format, parameters, status,
                                     definition_id, trigger, scheduled_for)
                VALUES (:id, :org, 'alice', 'sessions', 'csv', '{}', 'Pending', :definition_id,
                        'schedule', :previous)
                """
            ),
            {
                "id": uuid.uuid4(),
                "org": org,
                "definition_id": definition_id,
                "previous": instant - timedelta(minutes=5),
            },
        )
    result = Scheduler(settings, engine).run_once()
    assert result.skipped >= 1
    assert [row.scheduled_for for row in runs_of(engine, org)] == [instant - timedelta(minutes=5)]
    assert definition(engine, definition_id).next_run_at == instant + timedelta(minutes=5)


def test_the_run_carries_the_period_s_dates_in_the_definition_s_zone(
    settings, engine, org, make_definition
):
    make_definition(period="previousDay", timezone="Pacific/Kiritimati")  # UTC+14
    Scheduler(settings, engine).run_once()
    (run,) = runs_of(engine, org)
    day = run.scheduled_for.astimezone(ZoneInfo("Pacific/Kiritimati"))
    yesterday = (day.date() - timedelta(days=1)).isoformat()
    assert run.parameters["fromDate"] == run.parameters["toDate"] == yesterday
    assert run.parameters["columns"]  # canonical: the type's defaults filled in


def test_a_definition_pauses_after_failed_runs_in_a_row(settings, engine, org, make_definition):
    definition_id = make_definition()
    with engine.begin() as connection:
        for days in range(1, 6):
            connection.execute(
                text(
                    """
                    INSERT INTO reports (id, org, owner_id, report_type, format, parameters,
                                         status, created_at, completed_at, definition_id,
                                         trigger, scheduled_for, error_code, error_message)
                    VALUES (:id, :org, 'alice', 'sessions', 'csv', '{}', 'Failed',
                            now() - make_interval(days => :days), now(), :definition_id,
                            'schedule', now() - make_interval(days => :days), 'boom', 'x')
                    """
                ),
                {"id": uuid.uuid4(), "org": org, "days": days, "definition_id": definition_id},
            )
    result = Scheduler(settings, engine).run_once()
    assert result.paused >= 1
    paused = definition(engine, definition_id)
    assert paused.active is False and paused.next_run_at is None
    assert paused.consecutive_failures == 5
    assert "5 Failed runs in a row" in paused.paused_reason
    assert len(runs_of(engine, org)) == 5  # no new run


def test_a_completed_run_ends_the_failure_streak(settings, engine, org, make_definition):
    definition_id = make_definition()
    statuses = ["Failed", "Failed", "Completed", "Failed", "Failed", "Failed"]  # newest first
    with engine.begin() as connection:
        for age, status in enumerate(statuses, start=1):
            connection.execute(
                text(
                    """
                    INSERT INTO reports (id, org, owner_id, report_type, format, parameters,
                                         status, created_at, definition_id, trigger)
                    VALUES (:id, :org, 'alice', 'sessions', 'csv', '{}', :status,
                            now() - make_interval(hours => :age), :definition_id, 'generate')
                    """
                ),
                {
                    "id": uuid.uuid4(),
                    "org": org,
                    "status": status,
                    "age": age,
                    "definition_id": definition_id,
                },
            )
        streak = connection.execute(
            runs.FAILURE_STREAK, {"definition_id": definition_id, "limit": 5, "since": None}
        ).scalar_one()
    assert streak == 2
    Scheduler(settings, engine).run_once()
    assert definition(engine, definition_id).active is True


def test_a_resumed_definition_counts_only_the_runs_after_its_resume(
    settings, engine, org, make_definition
):
    definition_id = make_definition()
    with engine.begin() as connection:
        for hours in range(1, 6):
            connection.execute(
                text(
                    """
                    INSERT INTO reports (id, org, owner_id, report_type, format, parameters,
                                         status, created_at, definition_id, trigger)
                    VALUES (:id, :org, 'alice', 'sessions', 'csv', '{}', 'Failed',
                            now() - make_interval(hours => :hours), :definition_id, 'schedule')
                    """
                ),
                {"id": uuid.uuid4(), "org": org, "hours": hours, "definition_id": definition_id},
            )
        # What PATCH {"active": true} writes: the five Failed runs came before it.
        connection.execute(
            text("UPDATE report_definitions SET resumed_at = now() WHERE id = :id"),
            {"id": definition_id},
        )
    result = Scheduler(settings, engine).run_once()
    assert result.paused == 0
    resumed = definition(engine, definition_id)
    assert resumed.active is True and resumed.consecutive_failures == 0
    assert len(runs_of(engine, org)) == 6  # this instant's run was made


def test_a_stopped_scheduler_ends_within_its_tick_not_after_it(settings, engine):
    """SIGTERM calls stop() while the scheduler waits for a NOTIFY: it must not wait out the
    tick (an hour here), or every relay's shutdown would take that long."""
    waiting = threading.Event()

    class Watched:
        """The real listener, telling the test when the scheduler sleeps on it."""

        def __init__(self, listener):
            self._listener = listener

        def wait(self, *args):
            waiting.set()
            return self._listener.wait(*args)

        def close(self):
            self._listener.close()

    scheduler = Scheduler(
        settings.with_overrides(schedule_tick_seconds=3600),
        engine,
        listener_factory=lambda *args: Watched(connect_listener(*args)),
    )
    running = threading.Thread(target=scheduler.run)
    running.start()
    try:
        assert waiting.wait(timeout=30)  # in the tick's wait, not before it
        scheduler.stop()
        running.join(timeout=30)
        assert not running.is_alive()
    finally:
        scheduler.stop()
        running.join(timeout=3700)

"""The scheduler: runs report definitions at their instants, inside every relay, no leader.

Each tick claims the due definitions (FOR UPDATE SKIP LOCKED, shared/definitions/runs.py)
and, in the same transaction, writes each run's report and outbox message and the
definition's next instant. So a run exists exactly when its definition moved past the
instant, whichever relay made it and whatever crashed: a scheduler that dies before its
commit leaves the definitions due for the next tick, and the unique (definition, instant)
index turns a second attempt at the same instant into a no-op. What to run for a definition
is decided by the pure plan_tick (shared/definitions/schedule.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from marshmallow import ValidationError
from prometheus_client import Counter, Histogram
from sqlalchemy import Connection, Engine

from shared import report_counters
from shared.backoff import compute_backoff
from shared.catalog import get_report_type
from shared.config import Settings
from shared.db import (
    DEFINITIONS_CHANNEL,
    DatabaseUnavailable,
    Listener,
    connect_listener,
    seconds_until_due,
    translate_errors,
)
from shared.definitions import runs
from shared.definitions.schedule import Schedule, plan_tick
from shared.webhooks.events import record_definition_event

log = logging.getLogger(__name__)

CLAIM_LIMIT = 200  # definitions per transaction; a tick claims again while claims come back full

SKIPPED = Counter(
    "reportbox_scheduler_instants_skipped",
    "Instants skipped because the definition's previous run was still Pending or Processing.",
)
MISSED = Counter(
    "reportbox_scheduler_instants_missed",
    "Instants that passed without a run: downtime beyond the newest, or later than the grace.",
)
PAUSED = Counter(
    "reportbox_scheduler_definitions_paused",
    "Definitions paused after too many Failed runs in a row, or whose runs can no longer be made.",
)
LAG = Histogram(
    "reportbox_scheduler_lag_seconds",
    "From a scheduled instant to its run's commit.",
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 15, 30, 60, 300, 900, 3600),
)


@dataclass
class TickResult:
    created: int = 0
    skipped: int = 0
    missed: int = 0
    paused: int = 0
    lags: list[float] = field(default_factory=list)
    report_types: list[str] = field(default_factory=list)
    formats: list[str] = field(default_factory=list)

    def add(self, other: TickResult) -> None:
        self.created += other.created
        self.skipped += other.skipped
        self.missed += other.missed
        self.paused += other.paused
        self.lags += other.lags
        self.report_types += other.report_types
        self.formats += other.formats


class Scheduler:
    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        listener_factory: Callable[[Settings, str], Listener] = connect_listener,
    ) -> None:
        self._settings = settings
        self._engine = engine
        self._listener_factory = listener_factory
        self._listener: Listener | None = None
        self._stopping = threading.Event()
        self._grace = timedelta(seconds=settings.schedule_misfire_grace_seconds)

    def run_once(self) -> TickResult:
        """Claim the due definitions, as many claims as come back full, and make their runs."""
        total = TickResult()
        while not self._stopping.is_set():
            with translate_errors(), self._engine.begin() as connection:
                due = connection.execute(runs.CLAIM_DUE, {"limit": CLAIM_LIMIT}).all()
                result = TickResult()
                for definition in due:
                    self._tick(connection, definition, result)
            self._count(result)  # after the commit: only what exists is counted
            total.add(result)
            if len(due) < CLAIM_LIMIT:
                break
        return total

    def _tick(self, connection: Connection, definition: Any, result: TickResult) -> None:
        schedule = Schedule(definition.schedule_cron, definition.schedule_timezone)
        now: datetime = definition.database_now
        tick = plan_tick(schedule, definition.next_run_at, now, self._grace)
        result.missed += tick.missed
        streak = connection.execute(
            runs.FAILURE_STREAK,
            {
                "definition_id": definition.id,
                "limit": self._settings.schedule_pause_after_failures,
                "since": definition.resumed_at,
            },
        ).scalar_one()
        if streak >= self._settings.schedule_pause_after_failures:
            self._pause(
                connection, definition, streak, f"Paused after {streak} Failed runs in a row."
            )
            result.paused += 1
            return
        next_values = {
            "definition_id": definition.id,
            "next_run_at": tick.next_run_at,
            "streak": streak,
        }
        if tick.run_for is None:
            connection.execute(runs.SET_NEXT_RUN, next_values)
            return
        active = connection.execute(runs.ACTIVE_RUN, {"definition_id": definition.id}).first()
        if active is not None:
            log.info(
                "scheduler.skipped definition_id=%s scheduled_for=%s: the previous run is "
                "still in progress",
                definition.id,
                tick.run_for.isoformat(),
            )
            result.skipped += 1
            connection.execute(runs.SET_NEXT_RUN, next_values)
            return
        reason = self._cannot_run(definition)
        parameters: dict[str, Any] | None = None
        if reason is None:
            try:
                parameters = runs.parameters_at(
                    get_report_type(definition.report_type),  # type: ignore[arg-type]
                    definition.parameters,
                    definition.period,
                    definition.schedule_timezone,
                    tick.run_for,
                )
            except (ValidationError, ValueError) as exc:
                reason = f"Its parameters no longer fit the report type: {exc}"
        if reason is not None or parameters is None:
            self._pause(connection, definition, streak, reason or "It cannot run.")
            result.paused += 1
            return
        values = runs.make_run_values(definition, parameters, "schedule", tick.run_for)
        made = connection.execute(runs.MAKE_RUN, values).first()
        connection.execute(runs.SET_NEXT_RUN, next_values)
        if made is None:  # another scheduler made this instant's run already
            return
        result.created += 1
        result.lags.append(max((now - tick.run_for).total_seconds(), 0.0))
        result.report_types.append(definition.report_type)
        result.formats.append(definition.format)
        log.info(
            "scheduler.run_created definition_id=%s report_id=%s scheduled_for=%s missed=%d",
            definition.id,
            values["report_id"],
            tick.run_for.isoformat(),
            tick.missed,
        )

    @staticmethod
    def _cannot_run(definition: Any) -> str | None:
        report_type = get_report_type(definition.report_type)
        if report_type is None:
            return f"The report type {definition.report_type!r} no longer exists."
        if not set(definition.owner_roles) & report_type.roles:
            return f"Its owner's roles may no longer request {definition.report_type!r} reports."
        return None

    @staticmethod
    def _pause(connection: Connection, definition: Any, streak: int, reason: str) -> None:
        connection.execute(
            runs.PAUSE, {"definition_id": definition.id, "streak": streak, "reason": reason}
        )
        record_definition_event(connection, "definition.paused", definition.id)
        log.warning("scheduler.paused definition_id=%s reason=%s", definition.id, reason)

    @staticmethod
    def _count(result: TickResult) -> None:
        if result.created:
            report_counters.RUNS.labels("schedule").inc(result.created)
            for report_type, report_format in zip(result.report_types, result.formats, strict=True):
                report_counters.CREATED.labels(report_type, report_format).inc()
        for lag in result.lags:
            LAG.observe(lag)
        SKIPPED.inc(result.skipped)
        MISSED.inc(result.missed)
        PAUSED.inc(result.paused)

    def seconds_until_due(self) -> float:
        """How long to sleep: until the earliest definition is due, at most a tick."""
        return seconds_until_due(
            self._engine, runs.NEXT_DUE_IN, self._settings.schedule_tick_seconds
        )

    def wait(self) -> None:
        """Sleep until a definition is due, a definition changes (NOTIFY), or a tick passes."""
        if self._listener is None:
            self._listener = self._listener_factory(self._settings, DEFINITIONS_CHANNEL)
        seconds = self.seconds_until_due()
        if seconds > 0:
            self._listener.wait(seconds, self._stopping)

    def run(self) -> None:
        log.info("scheduler.started tick=%.1fs", self._settings.schedule_tick_seconds)
        failures = 0
        while not self._stopping.is_set():
            try:
                # Listen before the claim, so a definition written during it wakes the wait.
                if self._listener is None:
                    self._listener = self._listener_factory(self._settings, DEFINITIONS_CHANNEL)
                self.run_once()
                self.wait()
                failures = 0
            except DatabaseUnavailable as exc:
                failures += 1
                delay = compute_backoff(
                    failures,
                    base=self._settings.retry_backoff_base_seconds,
                    cap=self._settings.retry_backoff_cap_seconds,
                )
                log.warning("scheduler.unavailable error=%s retry_in=%.1fs", exc, delay)
                self.close()
                self._stopping.wait(delay)
        self.close()
        log.info("scheduler.stopped")

    def stop(self) -> None:
        self._stopping.set()

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None

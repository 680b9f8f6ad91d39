"""Cron schedules in a time zone: validation, the next instants, and what a tick should run.

Pure functions only. The cron arithmetic is cronsim's, which follows Debian's cron on
daylight saving: a wall time the spring change skips fires once, right after the jump; a
wall time the autumn change repeats fires once.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

# The five-field forms of the aliases cron accepts (cronsim takes only five fields).
ALIASES = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
MINUTES_PER_DAY = 24 * 60


class ScheduleError(ValueError):
    """A schedule that cannot be saved; `field` names the member at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Schedule:
    cron: str  # as the user wrote it
    timezone: str

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def expression(self) -> str:
        """The five-field expression the cron arithmetic runs on."""
        return ALIASES.get(self.cron.strip().lower(), self.cron.strip())

    def instants_after(self, moment: datetime, count: int) -> list[datetime]:
        """The next `count` instants strictly after `moment`, aware, in the schedule's zone."""
        start = moment.astimezone(self.zone).replace(second=0, microsecond=0)
        instants: list[datetime] = []
        for instant in CronSim(self.expression, start):
            if instant > moment:
                instants.append(instant)
            if len(instants) == count:
                break
        return instants

    def next_after(self, moment: datetime) -> datetime:
        return self.instants_after(moment, 1)[0]


def parse_schedule(cron: str, timezone: str, known_zones: frozenset[str]) -> Schedule:
    """The schedule, or ScheduleError naming `schedule.cron` or `schedule.timezone`."""
    if timezone not in known_zones:
        raise ScheduleError("schedule.timezone", f"{timezone!r} is not an IANA time zone.")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            "schedule.timezone", f"{timezone!r} is not an IANA time zone."
        ) from None
    schedule = Schedule(cron.strip(), timezone)
    fields = schedule.expression.split()
    if schedule.expression.startswith("@"):
        raise ScheduleError("schedule.cron", f"{cron!r} is not a cron alias this service knows.")
    if len(fields) != 5:
        raise ScheduleError(
            "schedule.cron",
            "A schedule has five fields (minute hour day-of-month month day-of-week) or is "
            "one of " + ", ".join(sorted(set(ALIASES) - {"@midnight", "@annually"})) + ".",
        )
    try:
        # Never fires (30 February): cronsim raises when it finds no instant.
        schedule.instants_after(datetime(2000, 1, 1, tzinfo=UTC), 1)
    except CronSimError as error:
        raise ScheduleError(
            "schedule.cron", f"{cron!r} is not a valid schedule: {error}."
        ) from None
    return schedule


def shortest_interval(schedule: Schedule) -> timedelta:
    """The shortest time between two instants, from its minute and hour fields.

    Every day that fires fires at the same wall times, so the shortest gap is within one day
    or from a day's last time to the next firing day's first (at least a day later).
    """
    parsed = CronSim(schedule.expression, datetime(2000, 1, 1, tzinfo=UTC))
    times = sorted(hour * 60 + minute for hour in parsed.hours for minute in parsed.minutes)
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    gaps.append(times[0] + MINUTES_PER_DAY - times[-1])
    return timedelta(minutes=min(gaps))


def check_interval(schedule: Schedule, minimum_seconds: float) -> None:
    shortest = shortest_interval(schedule)
    if shortest.total_seconds() < minimum_seconds:
        raise ScheduleError(
            "schedule.cron",
            f"Runs would come {int(shortest.total_seconds())} s apart; the shortest interval "
            f"allowed is {int(minimum_seconds)} s.",
        )


@dataclass(frozen=True)
class Tick:
    """What the scheduler does for one due definition."""

    run_for: datetime | None  # the instant to run now, or None
    missed: int  # instants that passed without a run (downtime beyond one, or too late)
    next_run_at: datetime  # the definition's next instant after this tick


def plan_tick(
    schedule: Schedule, next_run_at: datetime, now: datetime, misfire_grace: timedelta
) -> Tick:
    """Run only the newest instant that has come, and only if it is less than the grace late.

    `next_run_at` is the instant the definition was waiting for. After downtime several may
    have passed: the older ones are counted as missed, never stacked.
    """
    if next_run_at > now:
        return Tick(None, 0, next_run_at)
    newest, passed = next_run_at, 1
    while True:
        following = schedule.next_after(newest)
        if following > now:
            break
        newest, passed = following, passed + 1
    if now - newest < misfire_grace:
        return Tick(newest, passed - 1, following)
    return Tick(None, passed, following)

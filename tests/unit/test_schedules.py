"""Cron schedules in a zone, checked against Debian cron's daylight-saving rules."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from shared.definitions.periods import PERIODS, resolve_period, run_day
from shared.definitions.schedule import (
    Schedule,
    ScheduleError,
    check_interval,
    parse_schedule,
    plan_tick,
    shortest_interval,
)

ZONES = frozenset({"Europe/Berlin", "UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago"})
BERLIN = ZoneInfo("Europe/Berlin")


def iso(instants):
    return [instant.isoformat() for instant in instants]


def test_a_wall_time_the_spring_change_skips_fires_once_right_after_the_jump():
    daily = parse_schedule("30 2 * * *", "Europe/Berlin", ZONES)
    assert iso(daily.instants_after(datetime(2027, 3, 27, 12, tzinfo=BERLIN), 3)) == [
        "2027-03-28T03:00:00+02:00",
        "2027-03-29T02:30:00+02:00",
        "2027-03-30T02:30:00+02:00",
    ]


def test_a_wall_time_the_autumn_change_repeats_fires_once():
    daily = parse_schedule("30 2 * * *", "Europe/Berlin", ZONES)
    instants = daily.instants_after(datetime(2027, 10, 30, 12, tzinfo=BERLIN), 3)
    assert iso(instants) == [
        "2027-10-31T02:30:00+02:00",
        "2027-11-01T02:30:00+01:00",
        "2027-11-02T02:30:00+01:00",
    ]


def test_every_half_hour_across_both_changes_keeps_real_time_steps():
    half_hourly = parse_schedule("*/30 * * * *", "Europe/Berlin", ZONES)
    spring = half_hourly.instants_after(datetime(2027, 3, 28, 1, 0, tzinfo=BERLIN), 4)
    assert iso(spring) == [
        "2027-03-28T01:30:00+01:00",
        "2027-03-28T03:00:00+02:00",
        "2027-03-28T03:30:00+02:00",
        "2027-03-28T04:00:00+02:00",
    ]
    autumn = half_hourly.instants_after(datetime(2027, 10, 31, 1, 30, tzinfo=BERLIN), 4)
    # A wildcard hour follows real time (Debian cron): the repeated 02:00 and 02:30 fire in
    # each offset, so the runs stay 30 real minutes apart.
    assert iso(autumn) == [
        "2027-10-31T02:00:00+02:00",
        "2027-10-31T02:30:00+02:00",
        "2027-10-31T02:00:00+01:00",
        "2027-10-31T02:30:00+01:00",
    ]


def test_leap_day_and_monthly_and_aliases():
    leap = parse_schedule("0 0 29 2 *", "UTC", ZONES)
    assert iso(leap.instants_after(datetime(2027, 1, 1, tzinfo=UTC), 2)) == [
        "2028-02-29T00:00:00+00:00",
        "2032-02-29T00:00:00+00:00",
    ]
    monthly = parse_schedule("@monthly", "Europe/Berlin", ZONES)
    assert iso(monthly.instants_after(datetime(2027, 1, 15, tzinfo=BERLIN), 2)) == [
        "2027-02-01T00:00:00+01:00",
        "2027-03-01T00:00:00+01:00",
    ]
    assert parse_schedule("@weekly", "UTC", ZONES).next_after(
        datetime(2027, 1, 1, tzinfo=UTC)
    ) == datetime(2027, 1, 3, tzinfo=UTC)  # a Sunday


@pytest.mark.parametrize(
    ("cron", "timezone", "field"),
    [
        ("* * * * * *", "UTC", "schedule.cron"),  # a seconds field
        ("* * * *", "UTC", "schedule.cron"),
        ("61 * * * *", "UTC", "schedule.cron"),
        ("0 0 30 2 *", "UTC", "schedule.cron"),  # never fires
        ("@reboot", "UTC", "schedule.cron"),
        ("", "UTC", "schedule.cron"),
        ("0 6 * * 1", "Mars/Olympus", "schedule.timezone"),
        ("0 6 * * 1", "localtime", "schedule.timezone"),
    ],
)
def test_what_cannot_be_saved_names_its_field(cron, timezone, field):
    with pytest.raises(ScheduleError) as raised:
        parse_schedule(cron, timezone, ZONES)
    assert raised.value.field == field


@pytest.mark.parametrize(
    ("cron", "minutes"),
    [
        ("* * * * *", 1),
        ("*/5 * * * *", 5),
        ("0 * * * *", 60),
        ("0,1 0 1 1 *", 1),  # once a year, but two runs a minute apart
        ("0 6 * * 1", 24 * 60),
        ("50 23 * * *", 24 * 60),
        ("0 6,18 * * *", 12 * 60),
        ("55 23 * * *", 24 * 60),
        ("0,55 0,23 * * *", 5),  # 23:55 to the next day's 00:00
    ],
)
def test_the_shortest_interval_is_exact(cron, minutes):
    assert shortest_interval(Schedule(cron, "UTC")) == timedelta(minutes=minutes)


def test_the_minimum_interval_is_enforced():
    check_interval(Schedule("*/5 * * * *", "UTC"), 300)
    with pytest.raises(ScheduleError) as raised:
        check_interval(Schedule("*/4 * * * *", "UTC"), 300)
    assert raised.value.field == "schedule.cron" and "240 s" in raised.value.message


HOURLY = Schedule("0 * * * *", "UTC")
T0 = datetime(2027, 5, 1, 10, 0, tzinfo=UTC)
GRACE = timedelta(hours=1)


def test_nothing_runs_before_the_instant():
    assert plan_tick(HOURLY, T0, T0 - timedelta(seconds=1), GRACE).run_for is None


def test_an_instant_that_came_runs_once_and_the_next_one_is_set():
    tick = plan_tick(HOURLY, T0, T0 + timedelta(seconds=4), GRACE)
    assert (tick.run_for, tick.missed, tick.next_run_at) == (T0, 0, T0 + timedelta(hours=1))


def test_after_downtime_only_the_newest_missed_instant_runs():
    tick = plan_tick(HOURLY, T0, T0 + timedelta(hours=2, minutes=10), GRACE)
    assert tick.run_for == T0 + timedelta(hours=2)
    assert tick.missed == 2
    assert tick.next_run_at == T0 + timedelta(hours=3)


def test_an_instant_later_than_the_grace_does_not_run():
    daily = Schedule("0 6 * * *", "UTC")
    six = datetime(2027, 5, 1, 6, tzinfo=UTC)
    tick = plan_tick(daily, six, six + timedelta(hours=1, seconds=1), GRACE)
    assert tick.run_for is None and tick.missed == 1
    assert tick.next_run_at == six + timedelta(days=1)


def test_the_grace_is_strict():
    daily = Schedule("0 6 * * *", "UTC")
    six = datetime(2027, 5, 1, 6, tzinfo=UTC)
    assert plan_tick(daily, six, six + GRACE - timedelta(seconds=1), GRACE).run_for == six
    assert plan_tick(daily, six, six + GRACE, GRACE).run_for is None


# Relative periods.


@pytest.mark.parametrize(
    ("period", "day", "first", "last"),
    [
        ("previousDay", date(2027, 1, 1), date(2026, 12, 31), date(2026, 12, 31)),
        ("previousDay", date(2028, 3, 1), date(2028, 2, 29), date(2028, 2, 29)),
        ("previousWeek", date(2027, 1, 4), date(2026, 12, 28), date(2027, 1, 3)),  # a Monday
        ("previousWeek", date(2027, 1, 3), date(2026, 12, 21), date(2026, 12, 27)),  # a Sunday
        ("previousMonth", date(2027, 1, 15), date(2026, 12, 1), date(2026, 12, 31)),
        ("previousMonth", date(2028, 3, 31), date(2028, 2, 1), date(2028, 2, 29)),
        ("previousMonth", date(2027, 3, 1), date(2027, 2, 1), date(2027, 2, 28)),
        ("monthToDate", date(2027, 2, 28), date(2027, 2, 1), date(2027, 2, 28)),
        ("monthToDate", date(2027, 2, 1), date(2027, 2, 1), date(2027, 2, 1)),
        ("last7Days", date(2027, 1, 3), date(2026, 12, 27), date(2027, 1, 2)),
        ("last30Days", date(2028, 3, 1), date(2028, 1, 31), date(2028, 2, 29)),
    ],
)
def test_each_period_across_month_year_and_leap_edges(period, day, first, last):
    assert resolve_period(period, day) == (first, last)


def test_every_period_ends_no_later_than_the_run_day_and_starts_before_it_ends():
    for period in PERIODS:
        for offset in range(0, 800, 7):
            day = date(2027, 1, 1) + timedelta(days=offset)
            first, last = resolve_period(period, day)
            assert first <= last <= day


def test_the_run_day_is_the_day_in_the_definitions_zone():
    instant = datetime(2027, 6, 30, 22, 30, tzinfo=UTC)
    assert run_day(instant, "UTC") == date(2027, 6, 30)
    assert run_day(instant, "Europe/Berlin") == date(2027, 7, 1)
    assert run_day(instant, "Pacific/Kiritimati") == date(2027, 7, 1)  # UTC+14
    assert run_day(datetime(2027, 7, 1, 5, tzinfo=UTC), "Pacific/Pago_Pago") == date(2027, 6, 30)


def test_an_unknown_period_is_refused():
    with pytest.raises(ValueError):
        resolve_period("lastFortnight", date(2027, 1, 1))

"""Relative periods: the concrete dates a run covers, from the day it runs in its zone."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

PERIODS = (
    "previousDay",
    "previousWeek",
    "previousMonth",
    "monthToDate",
    "last7Days",
    "last30Days",
)


def run_day(instant: datetime, timezone: str) -> date:
    """The calendar day of the run where its definition lives."""
    return instant.astimezone(ZoneInfo(timezone)).date()


def resolve_period(period: str, day: date) -> tuple[date, date]:
    """(first, last) day, both included, of `period` for a run on `day`."""
    yesterday = day - timedelta(days=1)
    if period == "previousDay":
        return yesterday, yesterday
    if period == "previousWeek":  # Monday to Sunday of the week before the run's
        monday = day - timedelta(days=day.weekday() + 7)
        return monday, monday + timedelta(days=6)
    if period == "previousMonth":
        last = day.replace(day=1) - timedelta(days=1)
        return last.replace(day=1), last
    if period == "monthToDate":
        return day.replace(day=1), day
    if period == "last7Days":
        return day - timedelta(days=7), yesterday
    if period == "last30Days":
        return day - timedelta(days=30), yesterday
    raise ValueError(f"unknown period {period!r}; one of {', '.join(PERIODS)}")

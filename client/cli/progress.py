"""Showing a report while it runs: a live bar on a terminal, a plain line now and then elsewhere."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TextIO

from client.models import PENDING, Report

BAR_WIDTH = 24  # characters
PLAIN_INTERVAL = 5.0  # seconds between plain lines while nothing but the row count changes

Clock = Callable[[], float]


def format_duration(seconds: float) -> str:
    seconds = max(int(seconds + 0.5), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{seconds:02}" if hours else f"{minutes}:{seconds:02}"


def eta_seconds(report: Report, now: datetime | None = None) -> float | None:
    eta = report.progress.estimated_completion_at
    if eta is None or report.is_terminal:
        return None
    return max((eta - (now or datetime.now(UTC))).total_seconds(), 0.0)


def rows_text(report: Report) -> str:
    progress = report.progress
    if progress.rows_total:
        return f"{progress.rows_processed:,} / {progress.rows_total:,} rows"
    return f"{progress.rows_processed:,} row{'' if progress.rows_processed == 1 else 's'}"


def bar(percent: float | None, width: int = BAR_WIDTH) -> str:
    done = round(width * min(max(percent or 0.0, 0.0), 100.0) / 100.0)
    return "[" + "#" * done + "-" * (width - done) + "]"


def describe(report: Report, now: datetime | None = None) -> str:
    """Status, rows, percent and ETA in one line, without the bar."""
    parts = [report.status]
    if report.cancel_requested and not report.is_terminal:
        parts.append("(cancel requested)")
    if report.status != PENDING:
        parts.append(rows_text(report))
    if report.progress.percent is not None:
        parts.append(f"{report.progress.percent:.1f}%")
    eta = eta_seconds(report, now)
    if eta is not None:
        parts.append(f"ETA {format_duration(eta)}")
    return "  ".join(parts)


class TerminalProgress:
    """One line redrawn in place: bar, status, rows, percent, ETA and time waited."""

    def __init__(self, stream: TextIO, clock: Clock = time.monotonic) -> None:
        self._stream = stream
        self._clock = clock
        self._started = clock()
        self._drawn = False

    def show(self, report: Report) -> None:
        waited = format_duration(self._clock() - self._started)
        line = f"{bar(report.progress.percent)} {describe(report)}  ({waited})"
        # \r back to the line's start, \x1b[K clears what a longer previous line left.
        self._stream.write(f"\r{line}\x1b[K")
        self._stream.flush()
        self._drawn = True

    def finish(self) -> None:
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()
            self._drawn = False


class PlainProgress:
    """Whole lines for logs: on each change of status, else at most every PLAIN_INTERVAL."""

    def __init__(self, stream: TextIO, clock: Clock = time.monotonic) -> None:
        self._stream = stream
        self._clock = clock
        self._last_status: str | None = None
        self._last_line_at = 0.0

    def show(self, report: Report) -> None:
        now = self._clock()
        if report.status == self._last_status and now - self._last_line_at < PLAIN_INTERVAL:
            return
        self._stream.write(f"report {report.report_id}: {describe(report)}\n")
        self._stream.flush()
        self._last_status = report.status
        self._last_line_at = now

    def finish(self) -> None:
        pass


Progress = TerminalProgress | PlainProgress


def progress_for(stream: TextIO) -> Progress:
    return TerminalProgress(stream) if stream.isatty() else PlainProgress(stream)

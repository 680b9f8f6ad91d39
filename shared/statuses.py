"""Report statuses and the transitions between them."""

from __future__ import annotations

import enum


class ReportStatus(enum.StrEnum):
    PENDING = "Pending"
    PROCESSING = "Processing"
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCELLED = "Cancelled"
    EXPIRED = "Expired"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL

    @property
    def is_active(self) -> bool:
        return self in ACTIVE


ACTIVE = frozenset({ReportStatus.PENDING, ReportStatus.PROCESSING})
TERMINAL = frozenset(
    {ReportStatus.COMPLETED, ReportStatus.FAILED, ReportStatus.CANCELLED, ReportStatus.EXPIRED}
)

TRANSITIONS: dict[ReportStatus, frozenset[ReportStatus]] = {
    ReportStatus.PENDING: frozenset(
        {ReportStatus.PROCESSING, ReportStatus.CANCELLED, ReportStatus.FAILED}
    ),
    # Processing → Processing is a takeover of a report whose lease ran out (or a cancel
    # request, which the worker then carries out); → Pending hands it back to the queue.
    ReportStatus.PROCESSING: frozenset(
        {
            ReportStatus.PENDING,
            ReportStatus.PROCESSING,
            ReportStatus.COMPLETED,
            ReportStatus.FAILED,
            ReportStatus.CANCELLED,
        }
    ),
    ReportStatus.COMPLETED: frozenset({ReportStatus.EXPIRED}),
    ReportStatus.FAILED: frozenset(),
    ReportStatus.CANCELLED: frozenset(),
    ReportStatus.EXPIRED: frozenset(),
}


def can_transition(current: ReportStatus, new: ReportStatus) -> bool:
    return new in TRANSITIONS[current]

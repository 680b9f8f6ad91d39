"""Report definitions and schedule previews as the API returns them, as typed dataclasses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from client.models import parse_datetime

# Where a definition's file goes through the API (DESIGN section 8): a run in the
# background (`generate`), or the file itself in the response (`definition_content`).
ASYNC = "async"
SYNC = "sync"


@dataclass(frozen=True)
class Schedule:
    """Five-field cron (or @daily, @weekly, ...) read in an IANA time zone."""

    cron: str
    timezone: str

    def to_json(self) -> dict[str, str]:
        return {"cron": self.cron, "timezone": self.timezone}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Schedule | None:
        return cls(data["cron"], data["timezone"]) if data else None


@dataclass(frozen=True)
class LastRun:
    """The definition's newest run: an ordinary report, with what made it."""

    report_id: str
    status: str
    scheduled_for: datetime | None
    trigger: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> LastRun | None:
        if not data:
            return None
        return cls(
            report_id=data["reportId"],
            status=data["status"],
            scheduled_for=parse_datetime(data.get("scheduledFor")),
            trigger=data.get("trigger"),
        )


@dataclass(frozen=True)
class Definition:
    """A report definition as GET /api/v1/report-definitions/{definitionId} answers it."""

    definition_id: str
    name: str
    report_type: str
    format: str
    description: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    period: str | None = None
    schedule: Schedule | None = None
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    send_when: str | None = None
    active: bool = True
    owner: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    next_run_at: datetime | None = None
    next_runs: list[datetime] = field(default_factory=list)  # with the zone's offset
    last_run: LastRun | None = None
    consecutive_failures: int = 0
    paused_reason: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def api_mode(self) -> str | None:
        """`async` or `sync` from its `api` delivery; None when it has none."""
        for delivery in self.deliveries:
            if delivery.get("kind") == "api":
                return str(delivery.get("mode") or ASYNC)
        return None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Definition:
        return cls(
            definition_id=data["definitionId"],
            name=data["name"],
            report_type=data["reportType"],
            format=data.get("format", ""),
            description=data.get("description"),
            parameters=dict(data.get("parameters") or {}),
            period=data.get("period"),
            schedule=Schedule.from_json(data.get("schedule")),
            deliveries=[dict(item) for item in data.get("deliveries") or []],
            send_when=data.get("sendWhen"),
            active=bool(data.get("active", True)),
            owner=data.get("owner"),
            created_at=parse_datetime(data.get("createdAt")),
            updated_at=parse_datetime(data.get("updatedAt")),
            next_run_at=parse_datetime(data.get("nextRunAt")),
            next_runs=[parse_instant(item) for item in data.get("nextRuns") or []],
            last_run=LastRun.from_json(data.get("lastRun")),
            consecutive_failures=data.get("consecutiveFailures") or 0,
            paused_reason=data.get("pausedReason"),
            raw=dict(data),
        )


@dataclass(frozen=True)
class DefinitionPage:
    """One page of definitions, newest first."""

    items: list[Definition]
    page: int
    page_size: int
    total: int

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DefinitionPage:
        return cls(
            items=[Definition.from_json(item) for item in data.get("items", [])],
            page=data.get("page", 1),
            page_size=data.get("pageSize", 0),
            total=data.get("total", 0),
        )


@dataclass(frozen=True)
class SchedulePreview:
    """The next instants of a cron expression in a zone, and what it means in words."""

    cron: str
    timezone: str
    description: str | None
    instants: list[datetime]  # aware, each with the zone's offset at that instant
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], cron: str, timezone: str) -> SchedulePreview:
        return cls(
            cron=data.get("cron", cron),
            timezone=data.get("timezone", timezone),
            description=data.get("description"),
            instants=[parse_instant(item) for item in data.get("instants") or []],
            raw=dict(data),
        )


def parse_instant(item: str) -> datetime:
    """An RFC 3339 instant with its offset."""
    return datetime.fromisoformat(item)

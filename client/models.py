"""What the API returns, as typed dataclasses; `raw` keeps the JSON as the server sent it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

from client.retry import parse_retry_after

# A report's statuses as the server names them (its shared/statuses.py; a unit test keeps the
# two equal). Report.status stays a str: it is what the JSON said.
Status = Literal["Pending", "Processing", "Completed", "Failed", "Cancelled", "Expired"]
PENDING: Final = "Pending"
PROCESSING: Final = "Processing"
COMPLETED: Final = "Completed"
FAILED: Final = "Failed"
CANCELLED: Final = "Cancelled"
EXPIRED: Final = "Expired"
TERMINAL_STATUSES: frozenset[Status] = frozenset({COMPLETED, FAILED, CANCELLED, EXPIRED})


def parse_datetime(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class Progress:
    rows_processed: int = 0
    rows_total: int | None = None  # the planner's estimate until the report completes
    percent: float | None = None
    estimated_completion_at: datetime | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Progress:
        data = data or {}
        return cls(
            rows_processed=data.get("rowsProcessed") or 0,
            rows_total=data.get("rowsTotal"),
            percent=data.get("percent"),
            estimated_completion_at=parse_datetime(data.get("estimatedCompletionAt")),
        )


@dataclass(frozen=True)
class ErrorInfo:
    """Why a report failed: a stable `code` and a readable `message`."""

    code: str
    message: str | None


@dataclass(frozen=True)
class ReportFile:
    name: str
    content_type: str
    size_bytes: int
    rows: int
    sha256: str


# A delivery's statuses (DESIGN.md section 9); Delivery.status stays the JSON's str.
DeliveryStatus = Literal["Pending", "Delivered", "Failed", "Skipped"]


@dataclass(frozen=True)
class Delivery:
    """One target of a definition's run (email, s3, sftp) and how sending it went; never
    the target itself (no address, no secret)."""

    delivery_id: str
    kind: str
    status: str
    attempts: int = 0
    last_error: str | None = None
    delivered_at: datetime | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Delivery:
        return cls(
            delivery_id=data["deliveryId"],
            kind=data.get("kind", ""),
            status=data["status"],
            attempts=data.get("attempts") or 0,
            last_error=data.get("lastError"),
            delivered_at=parse_datetime(data.get("deliveredAt")),
        )


@dataclass(frozen=True)
class Report:
    """A report resource as GET /api/v1/reports/{reportId} answers it."""

    report_id: str
    report_type: str
    format: str
    status: str
    parameters: dict[str, Any] = field(default_factory=dict)
    cancel_requested: bool = False
    created_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    expires_at: datetime | None = None
    progress: Progress = field(default_factory=Progress)
    error: ErrorInfo | None = None
    file: ReportFile | None = None
    download_url: str | None = field(default=None, repr=False)  # a credential: keep it out of logs
    download_url_expires_at: datetime | None = None
    # A run of a report definition says which one, what made it (request, generate or
    # schedule) and, when scheduled, the instant it was made for; older servers send none.
    definition_id: str | None = None
    trigger: str | None = None
    scheduled_for: datetime | None = None
    # A run's deliveries beside the API (empty for a one-off report, or from older servers).
    deliveries: list[Delivery] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Report:
        error = data.get("error")
        file = data.get("file")
        return cls(
            report_id=data["reportId"],
            report_type=data["reportType"],
            format=data.get("format", ""),
            status=data["status"],
            parameters=dict(data.get("parameters") or {}),
            cancel_requested=bool(data.get("cancelRequested")),
            created_at=parse_datetime(data.get("createdAt")),
            started_at=parse_datetime(data.get("startedAt")),
            completed_at=parse_datetime(data.get("completedAt")),
            expires_at=parse_datetime(data.get("expiresAt")),
            progress=Progress.from_json(data.get("progress")),
            error=ErrorInfo(error.get("code", ""), error.get("message")) if error else None,
            file=ReportFile(
                name=file["name"],
                content_type=file["contentType"],
                size_bytes=file["sizeBytes"],
                rows=file["rows"],
                sha256=file["sha256"],
            )
            if file
            else None,
            download_url=data.get("downloadUrl"),
            download_url_expires_at=parse_datetime(data.get("downloadUrlExpiresAt")),
            definition_id=data.get("definitionId"),
            trigger=data.get("trigger"),
            scheduled_for=parse_datetime(data.get("scheduledFor")),
            deliveries=[Delivery.from_json(item) for item in data.get("deliveries") or []],
            raw=dict(data),
        )


@dataclass(frozen=True)
class Accepted:
    """The 202 answer to a report request: the report exists and will reach a final status."""

    report_id: str
    report_type: str
    status: str
    status_url: str
    created_at: datetime | None
    retry_after: float | None  # seconds the server suggests before the first look
    replayed: bool  # the first answer to an earlier try of the same request
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    job_id: str | None = None  # a definition's run (generate): the same as report_id

    @classmethod
    def from_answer(cls, body: Mapping[str, Any], headers: Mapping[str, str]) -> Accepted:
        """The 202 answer's body and headers (lower-case names, as httpx gives them)."""
        return cls(
            report_id=body["reportId"],
            report_type=body["reportType"],
            status=body["status"],
            status_url=body.get("statusUrl") or headers.get("location", ""),
            created_at=parse_datetime(body.get("createdAt")),
            retry_after=parse_retry_after(headers.get("retry-after")),
            replayed=headers.get("idempotent-replayed") == "true",
            raw=dict(body),
            job_id=body.get("jobId"),
        )


@dataclass(frozen=True)
class ReportPage:
    """One page of the history, newest first."""

    items: list[Report]
    page: int
    page_size: int
    total: int

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ReportPage:
        return cls(
            items=[Report.from_json(item) for item in data.get("items", [])],
            page=data.get("page", 1),
            page_size=data.get("pageSize", 0),
            total=data.get("total", 0),
        )


@dataclass(frozen=True)
class ReportType:
    """A report type from the catalog; `parameters` is its JSON Schema."""

    name: str
    title: str
    description: str
    formats: list[str]
    roles: list[str]
    parameters: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def parameter_names(self) -> list[str]:
        return list((self.parameters.get("properties") or {}).keys())

    @property
    def required_parameters(self) -> list[str]:
        return list(self.parameters.get("required") or [])

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ReportType:
        return cls(
            name=data["name"],
            title=data.get("title", ""),
            description=data.get("description", ""),
            formats=list(data.get("formats") or []),
            roles=list(data.get("roles") or []),
            parameters=dict(data.get("parameters") or {}),
            raw=dict(data),
        )

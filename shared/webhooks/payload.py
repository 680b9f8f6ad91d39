"""Which endpoints an event goes to, and the body it is sent with: pure.

A message stores a snapshot of its report (or definition) as the event found it, in the
column names of the tables; the body is built from it at send time, so that a download URL
is presigned per attempt rather than left to age in the table.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

REPORT_EVENTS = ("report.completed", "report.failed", "report.cancelled", "report.expired")
DEFINITION_EVENTS = ("definition.paused",)
EVENT_TYPES = REPORT_EVENTS + DEFINITION_EVENTS
TEST_EVENT = "webhook.test"
MAX_BODY_BYTES = 2048
ERROR_MESSAGE_CHARS = 300  # an error message is cut here, so every body stays under 2 KB
REASON_CHARS = 300

# The snapshot's columns, read from `reports` in the event's transaction.
REPORT_SNAPSHOT_COLUMNS = (
    "id",
    "report_type",
    "format",
    "status",
    "definition_id",
    "trigger",
    "scheduled_for",
    "created_at",
    "completed_at",
    "file_name",
    "content_type",
    "size_bytes",
    "row_count",
    "sha256",
    "error_code",
    "error_message",
    "object_key",
)


def matches(
    event_type: str,
    report_type: str | None,
    event_types: Collection[str],
    report_types: Collection[str],
) -> bool:
    """An endpoint takes an event it subscribed to, for a report type it names (none: all)."""
    if event_type not in event_types:
        return False
    return not report_types or report_type is None or report_type in report_types


def _instant(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _cut(text: str | None, limit: int) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


def report_data(
    snapshot: Mapping[str, Any],
    status_url: str,
    download: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """The `data` of a report event; `download` is (url, expires at) when the endpoint wants it."""
    completed = snapshot.get("file_name") is not None
    data: dict[str, Any] = {
        "reportId": str(snapshot["id"]),
        "reportType": snapshot["report_type"],
        "format": snapshot["format"],
        "status": snapshot["status"],
        "statusUrl": status_url,
        "definitionId": _text(snapshot.get("definition_id")),
        "trigger": snapshot.get("trigger"),
        "scheduledFor": _instant(snapshot.get("scheduled_for")),
        "createdAt": _instant(snapshot.get("created_at")),
        "completedAt": _instant(snapshot.get("completed_at")),
        "file": {
            "name": snapshot["file_name"],
            "contentType": snapshot.get("content_type"),
            "sizeBytes": snapshot.get("size_bytes"),
            "rows": snapshot.get("row_count"),
            "sha256": snapshot.get("sha256"),
        }
        if completed
        else None,
        "error": {
            "code": snapshot["error_code"],
            "message": _cut(snapshot.get("error_message"), ERROR_MESSAGE_CHARS),
        }
        if snapshot.get("error_code") is not None
        else None,
    }
    if download is not None:
        data["downloadUrl"], data["downloadUrlExpiresAt"] = download
    return data


def definition_data(snapshot: Mapping[str, Any]) -> dict[str, Any]:
    """The `data` of a definition event."""
    return {
        "definitionId": str(snapshot["id"]),
        "name": snapshot.get("name"),
        "reportType": snapshot.get("report_type"),
        "format": snapshot.get("format"),
        "active": snapshot.get("active"),
        "consecutiveFailures": snapshot.get("consecutive_failures"),
        "pausedReason": _cut(snapshot.get("paused_reason"), REASON_CHARS),
    }


def encode_body(event_type: str, timestamp: datetime, data: Mapping[str, Any]) -> str:
    """`{"type", "timestamp", "data"}` as compact JSON, the exact text that is signed."""
    return json.dumps(
        {"type": event_type, "timestamp": timestamp.isoformat(), "data": data},
        separators=(",", ":"),
        ensure_ascii=False,
    )


def ping_data(endpoint_id: object) -> dict[str, Any]:
    """The data of a `webhook.test` event (POST .../test), stored as its message's snapshot."""
    return {"endpointId": str(endpoint_id), "message": "A test event from Reportbox."}

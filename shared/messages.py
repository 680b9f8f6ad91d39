"""The one message format that travels from the outbox through RabbitMQ to the worker."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

CONTENT_TYPE = "application/json"


class UndecodableMessage(ValueError):
    """A body that is not a valid message; carries the raw body for the dead-letter log."""

    def __init__(self, reason: str, body: bytes) -> None:
        super().__init__(f"undecodable message: {reason}")
        self.body = body


@dataclass(frozen=True)
class ReportRequested:
    TYPE: ClassVar[str] = "report.requested"

    message_id: uuid.UUID
    report_id: uuid.UUID
    occurred_at: datetime

    @classmethod
    def new(cls, report_id: uuid.UUID, occurred_at: datetime | None = None) -> ReportRequested:
        return cls(
            message_id=uuid.uuid4(),
            report_id=report_id,
            occurred_at=occurred_at or datetime.now(UTC),
        )

    def encode(self) -> bytes:
        return json.dumps(
            {
                "messageId": str(self.message_id),
                "type": self.TYPE,
                "reportId": str(self.report_id),
                "occurredAt": self.occurred_at.isoformat(),
            },
            separators=(",", ":"),
        ).encode()

    @classmethod
    def decode(cls, body: bytes) -> ReportRequested:
        try:
            document = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UndecodableMessage(f"not JSON ({exc})", body) from None
        if not isinstance(document, dict):
            raise UndecodableMessage("not a JSON object", body)
        if document.get("type") != cls.TYPE:
            raise UndecodableMessage(f"unknown type {document.get('type')!r}", body)
        try:
            occurred_at = datetime.fromisoformat(document["occurredAt"])
            if occurred_at.tzinfo is None:
                raise ValueError("occurredAt has no time zone")
            return cls(
                message_id=uuid.UUID(document["messageId"]),
                report_id=uuid.UUID(document["reportId"]),
                occurred_at=occurred_at,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise UndecodableMessage(f"bad field ({exc!r})", body) from None

"""Database tables of Reportbox (the demo domain lives in shared.demo)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Identity,
    Index,
    Integer,
    LargeBinary,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.statuses import ReportStatus


class Base(DeclarativeBase):
    pass


class StatusText(TypeDecorator[ReportStatus]):
    """A status stored as its name in a TEXT column (the CHECK constraint lists them), read
    back as a ReportStatus."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: ReportStatus | None, dialect: Dialect) -> str | None:
        return None if value is None else ReportStatus(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> ReportStatus | None:
        return None if value is None else ReportStatus(value)


_STATUS_VALUES = ", ".join(f"'{status.value}'" for status in ReportStatus)


class Report(Base):
    __tablename__ = "reports"
    # INSERT ... RETURNING brings back created_at, so the API answers with the database's clock.
    __mapper_args__ = {"eager_defaults": True}  # noqa: RUF012
    __table_args__ = (
        CheckConstraint(f"status IN ({_STATUS_VALUES})", name="reports_status_valid"),
        # The caller's history, newest first, with the history's filters, so that any page
        # and the total are read from the index alone (migration 0006).
        Index(
            "reports_owner_history",
            "org",
            "owner_id",
            text("created_at DESC"),
            text("id DESC"),
            postgresql_include=["status", "report_type", "format"],
        ),
        Index(
            "reports_org_history",
            "org",
            text("created_at DESC"),
            text("id DESC"),
            postgresql_include=["status", "report_type", "format"],
        ),
        # Reports by when they ended: the row retention sweep (not partial on status, so a
        # history filtered by status is never planned through it).
        Index("reports_ended", "completed_at"),
        Index("reports_expiring", "expires_at", postgresql_where=text("status = 'Completed'")),
        Index(
            "reports_idempotency_key",
            "org",
            "owner_id",
            "idempotency_key",
            unique=True,
            postgresql_where=text("idempotency_key IS NOT NULL"),
        ),
        Index(
            "reports_active_request",
            "org",
            "owner_id",
            "request_hash",
            unique=True,
            postgresql_where=text("status IN ('Pending', 'Processing')"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    org: Mapped[str] = mapped_column(Text)
    owner_id: Mapped[str] = mapped_column(Text)
    report_type: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(Text)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONB)
    idempotency_key: Mapped[str | None] = mapped_column(Text)
    request_hash: Mapped[str | None] = mapped_column(Text)
    status: Mapped[ReportStatus] = mapped_column(StatusText, default=ReportStatus.PENDING)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
    cancel_requested: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    # Claims released at shutdown: not charged, so attempts - hand_backs were spent.
    hand_backs: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    rows_processed: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    rows_total: Mapped[int | None] = mapped_column(BigInteger)
    error_code: Mapped[str | None] = mapped_column(Text)
    error_message: Mapped[str | None] = mapped_column(Text)
    object_key: Mapped[str | None] = mapped_column(Text)
    file_name: Mapped[str | None] = mapped_column(Text)
    content_type: Mapped[str | None] = mapped_column(Text)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    row_count: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # A run of a report definition: which one, what made it, and the instant it was made for
    # (scheduled runs only; unique per definition, migration 0007).
    definition_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    trigger: Mapped[str] = mapped_column(Text, server_default=text("'request'"))
    scheduled_for: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ReportDefinition(Base):
    """A saved request: type, format, parameters or a relative period, and a schedule."""

    __tablename__ = "report_definitions"
    __mapper_args__ = {"eager_defaults": True}  # noqa: RUF012

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    org: Mapped[str] = mapped_column(Text)
    owner_id: Mapped[str] = mapped_column(Text)
    owner_roles: Mapped[list[str]] = mapped_column(ARRAY(Text))
    name: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    report_type: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(Text)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'"))
    period: Mapped[str | None] = mapped_column(Text)
    schedule_cron: Mapped[str | None] = mapped_column(Text)
    schedule_timezone: Mapped[str | None] = mapped_column(Text)
    deliveries: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    send_when: Mapped[str] = mapped_column(Text, server_default=text("'always'"))
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    next_run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    consecutive_failures: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    paused_reason: Mapped[str | None] = mapped_column(Text)
    # Set by a resume: the failure streak counts only the runs made after it (migration 0008).
    resumed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )


class OutboxMessage(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        # Serves the relay's claim: only unpublished rows, in id order.
        Index("outbox_unpublished", "id", postgresql_where=text("published_at IS NULL")),
        # Serves the stuck-report check's lookup of a report's messages.
        Index("outbox_report", "report_id"),
        Index(
            "outbox_published", "published_at", postgresql_where=text("published_at IS NOT NULL")
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    message_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), unique=True)
    message_type: Mapped[str] = mapped_column(Text)
    report_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

"""Webhook endpoints and their messages (DESIGN.md section 10).

A message row is written in the transaction of the status change that causes it, one per
(event, endpoint) that subscribed, and is the message's whole state: the dispatcher claims
due rows (FOR UPDATE SKIP LOCKED), records each attempt on the row, and schedules a retry by
its next_attempt_at. Ended messages are deleted by the relay's sweep after
REPORT_ROW_RETENTION_DAYS. A trigger NOTIFYs the dispatchers when a row becomes due to send, so a
new event goes out at once rather than at the next poll. Deleting an endpoint deletes its
messages: it gets nothing more.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = sa.func.now()


def upgrade() -> None:
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("org", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("description", sa.Text()),
        sa.Column("event_types", ARRAY(sa.Text()), nullable=False),
        # Empty: every report type.
        sa.Column("report_types", ARRAY(sa.Text()), nullable=False, server_default="{}"),
        sa.Column("include_download_url", sa.Boolean(), nullable=False, server_default=sa.false()),
        # Never returned by the API after the answer that created or rotated it.
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("previous_secret", sa.Text()),
        sa.Column("previous_secret_expires_at", sa.DateTime(timezone=True)),
        sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("disabled_reason", sa.Text()),
        # Since when every attempt failed (NULL: the last one succeeded, or none was made).
        sa.Column("failing_since", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    )
    op.create_index(
        "webhook_endpoints_org", "webhook_endpoints", ["org", sa.text("created_at DESC")]
    )
    op.create_table(
        "webhook_messages",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column(
            "endpoint_id",
            UUID(as_uuid=True),
            sa.ForeignKey("webhook_endpoints.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("org", sa.Text(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("report_id", UUID(as_uuid=True)),
        sa.Column("definition_id", UUID(as_uuid=True)),
        # The report (or definition) as the event found it; the body is built from it.
        sa.Column("snapshot", JSONB(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        # pending | delivered | failed: the API's `status` of a message (named apart from
        # the reports' status, whose every assignment lives in shared/transitions.py).
        sa.Column("state", sa.Text(), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column(
            "next_attempt_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW
        ),
        # Held by a dispatcher until then; a dispatcher that died lets it go at this time.
        sa.Column("lease_until", sa.DateTime(timezone=True)),
        sa.Column("last_status_code", sa.Integer()),
        sa.Column("last_error", sa.Text()),
        sa.Column("delivered_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint(
            "state IN ('pending', 'delivered', 'failed')", name="webhook_messages_state_valid"
        ),
    )
    # The dispatcher's claim: only pending rows, by when they are due.
    op.create_index(
        "webhook_messages_due",
        "webhook_messages",
        ["next_attempt_at"],
        postgresql_where=sa.text("state = 'pending'"),
    )
    # An endpoint's messages, newest first (the API's list), and its one in flight.
    op.create_index(
        "webhook_messages_endpoint",
        "webhook_messages",
        ["endpoint_id", sa.text("occurred_at DESC")],
    )
    # The sweep's deletion of ended messages past the retention.
    op.create_index(
        "webhook_messages_ended",
        "webhook_messages",
        ["occurred_at"],
        postgresql_where=sa.text("state <> 'pending'"),
    )
    op.create_index(
        "webhook_messages_in_flight",
        "webhook_messages",
        ["endpoint_id"],
        postgresql_where=sa.text("state = 'pending' AND lease_until IS NOT NULL"),
    )
    op.execute(
        """
        CREATE FUNCTION webhooks_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('reportbox_webhooks', '');
            RETURN NULL;
        END
        $$
        """
    )
    # Only when a row becomes ready for a dispatcher (new, retried now, re-enabled): a
    # dispatcher's own claim sets lease_until and wakes nobody.
    op.execute(
        """
        CREATE TRIGGER webhooks_notify AFTER INSERT OR UPDATE ON webhook_messages
        FOR EACH ROW WHEN (NEW.state = 'pending' AND NEW.lease_until IS NULL)
        EXECUTE FUNCTION webhooks_notify()
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER webhooks_notify ON webhook_messages")
    op.execute("DROP FUNCTION webhooks_notify()")
    op.drop_table("webhook_messages")
    op.drop_table("webhook_endpoints")

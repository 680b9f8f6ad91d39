"""Deliveries of definitions' runs to people and places (DESIGN.md section 9).

One row per (run, target), written in the transaction that completes the run, and the
delivery's whole state, like webhook_messages: the dispatcher claims due rows (FOR UPDATE
SKIP LOCKED) under a lease, records each attempt on the row, and schedules a retry by its
next_attempt_at. The target is the definition's as it was when the run completed, its
secrets sealed (shared/secrets.py). A trigger NOTIFYs the dispatchers when a row
becomes due. Rows go with their report (ON DELETE CASCADE) when the sweep deletes it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = sa.func.now()


def upgrade() -> None:
    op.create_table(
        "deliveries",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column(
            "report_id",
            UUID(as_uuid=True),
            sa.ForeignKey("reports.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("definition_id", UUID(as_uuid=True), nullable=False),
        # The target's place in the definition's deliveries list, for a stable order.
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("target", JSONB(), nullable=False),
        # Pending | Delivered | Failed | Skipped: the API's `status` of a delivery (named apart
        # from the reports' status, whose every assignment lives in shared/transitions.py).
        sa.Column("state", sa.Text(), nullable=False, server_default="Pending"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
        # attempts when a retry through the API restarted it: the schedule counts from there.
        sa.Column("attempts_before_retry", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text()),
        sa.Column(
            "next_attempt_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW
        ),
        sa.Column("lease_until", sa.DateTime(timezone=True)),
        sa.Column("delivered_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.CheckConstraint(
            "state IN ('Pending', 'Delivered', 'Failed', 'Skipped')",
            name="deliveries_status_valid",
        ),
        sa.UniqueConstraint("report_id", "position", name="deliveries_report_position"),
    )
    # The dispatcher's claim: only pending rows, by when they are due.
    op.create_index(
        "deliveries_due",
        "deliveries",
        ["next_attempt_at"],
        postgresql_where=sa.text("state = 'Pending'"),
    )
    # sendWhen changed: the definition's last Delivered run.
    op.create_index(
        "deliveries_definition_delivered",
        "deliveries",
        ["definition_id", sa.text("delivered_at DESC")],
        postgresql_where=sa.text("state = 'Delivered'"),
    )
    op.execute(
        """
        CREATE FUNCTION deliveries_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('reportbox_deliveries', '');
            RETURN NULL;
        END
        $$
        """
    )
    # Only when a row becomes ready for a dispatcher (new, retried now): a claim sets
    # lease_until and wakes nobody.
    op.execute(
        """
        CREATE TRIGGER deliveries_notify AFTER INSERT OR UPDATE ON deliveries
        FOR EACH ROW WHEN (NEW.state = 'Pending' AND NEW.lease_until IS NULL)
        EXECUTE FUNCTION deliveries_notify()
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER deliveries_notify ON deliveries")
    op.execute("DROP FUNCTION deliveries_notify()")
    op.drop_table("deliveries")

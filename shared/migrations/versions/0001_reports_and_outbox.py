"""Reports and the transactional outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = "'Pending', 'Processing', 'Completed', 'Failed', 'Cancelled', 'Expired'"


def upgrade() -> None:
    timestamp = sa.DateTime(timezone=True)
    op.create_table(
        "reports",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("org", sa.Text(), nullable=False),
        sa.Column("owner_id", sa.Text(), nullable=False),
        sa.Column("report_type", sa.Text(), nullable=False),
        sa.Column("format", sa.Text(), nullable=False),
        sa.Column("parameters", postgresql.JSONB(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("created_at", timestamp, server_default=sa.text("now()"), nullable=False),
        sa.Column("started_at", timestamp),
        sa.Column("completed_at", timestamp),
        sa.Column("lease_expires_at", timestamp),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("rows_processed", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("rows_total", sa.BigInteger()),
        sa.Column("error_code", sa.Text()),
        sa.Column("error_message", sa.Text()),
        sa.Column("object_key", sa.Text()),
        sa.Column("file_name", sa.Text()),
        sa.Column("content_type", sa.Text()),
        sa.Column("size_bytes", sa.BigInteger()),
        sa.Column("row_count", sa.BigInteger()),
        sa.Column("sha256", sa.Text()),
        sa.Column("expires_at", timestamp),
        sa.CheckConstraint(f"status IN ({STATUSES})", name="reports_status_valid"),
    )
    op.create_index(
        "reports_owner_history", "reports", ["org", "owner_id", sa.text("created_at DESC")]
    )

    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("message_id", postgresql.UUID(as_uuid=True), nullable=False, unique=True),
        sa.Column("message_type", sa.Text(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", timestamp, server_default=sa.text("now()"), nullable=False),
        sa.Column("published_at", timestamp),
    )
    # The relay's claim walks only this index, so its cost does not grow with history.
    op.create_index(
        "outbox_unpublished", "outbox", ["id"], postgresql_where=sa.text("published_at IS NULL")
    )
    # NOTIFY is sent at commit, so a relay never wakes for a row it cannot yet see.
    # One notification per statement, and PostgreSQL folds duplicates within a transaction.
    op.execute(
        """
        CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('reportbox_outbox', '');
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
        FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify()
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER outbox_notify ON outbox")
    op.execute("DROP FUNCTION outbox_notify()")
    op.drop_table("outbox")
    op.drop_table("reports")

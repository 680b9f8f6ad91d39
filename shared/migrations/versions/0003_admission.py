"""Idempotency keys and duplicate detection.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("reports", sa.Column("idempotency_key", sa.Text()))
    op.add_column("reports", sa.Column("request_hash", sa.Text()))
    # A key names one request of one user; the index makes a concurrent retry fail, not
    # create a second report.
    op.create_index(
        "reports_idempotency_key",
        "reports",
        ["org", "owner_id", "idempotency_key"],
        unique=True,
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
    )
    # At most one active report per identical request of one user; it also serves the count
    # of a user's active reports.
    op.create_index(
        "reports_active_request",
        "reports",
        ["org", "owner_id", "request_hash"],
        unique=True,
        postgresql_where=sa.text("status IN ('Pending', 'Processing')"),
    )


def downgrade() -> None:
    op.drop_index("reports_active_request", "reports")
    op.drop_index("reports_idempotency_key", "reports")
    op.drop_column("reports", "request_hash")
    op.drop_column("reports", "idempotency_key")

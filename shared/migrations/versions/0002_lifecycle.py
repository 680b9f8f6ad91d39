"""Cancel requests, org-wide history and the retention sweep.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "reports",
        sa.Column("cancel_requested", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    # An admin's history: every report of the org, newest first.
    op.create_index("reports_org_history", "reports", ["org", sa.text("created_at DESC")])
    # The retention sweep reads only Completed reports, oldest expiry first.
    op.create_index(
        "reports_expiring",
        "reports",
        ["expires_at"],
        postgresql_where=sa.text("status = 'Completed'"),
    )
    # The outbox sweep deletes published rows by age.
    op.create_index(
        "outbox_published",
        "outbox",
        ["published_at"],
        postgresql_where=sa.text("published_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("outbox_published", "outbox")
    op.drop_index("reports_expiring", "reports")
    op.drop_index("reports_org_history", "reports")
    op.drop_column("reports", "cancel_requested")

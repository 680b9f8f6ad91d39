"""The outbox row names its report, so the stuck-report check finds it by index.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("report_id", postgresql.UUID(as_uuid=True)))
    op.execute(
        "UPDATE outbox SET report_id = (convert_from(body, 'UTF8')::jsonb ->> 'reportId')::uuid"
    )
    op.alter_column("outbox", "report_id", nullable=False)
    op.create_index("outbox_report", "outbox", ["report_id"])


def downgrade() -> None:
    op.drop_index("outbox_report", "outbox")
    op.drop_column("outbox", "report_id")

"""Claims handed back at shutdown are counted, so they are not charged as spent attempts.

`attempts` stays the claim counter and fencing token (it only grows); the attempts a report
has spent against WORKER_MAX_ATTEMPTS are `attempts - hand_backs`. A constant default adds
the column without rewriting the table (PostgreSQL 11+), and every existing row is right
with it: no hand-back was counted before.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "reports",
        sa.Column("hand_backs", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("reports", "hand_backs")

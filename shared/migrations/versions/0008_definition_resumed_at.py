"""When a paused definition was resumed: its failure streak counts only the runs after it.

The streak is counted from the runs themselves (runs.FAILURE_STREAK), so without a bound a
definition resumed after five Failed runs would be paused again at its next tick, before it
had run once. NULL: never resumed, every run counts.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("report_definitions", sa.Column("resumed_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    op.drop_column("report_definitions", "resumed_at")

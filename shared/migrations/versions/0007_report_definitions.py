"""Report definitions (saved requests with an optional schedule) and the runs they make.

A run is an ordinary report that also records its definition, what triggered it and, for
a scheduled run, the instant it was made for. `reports_definition_instant` is the guarantee
of one run per scheduled instant, however many schedulers race for it. Deleting a
definition keeps its runs (no foreign key): they are reports in the history like any other.
A trigger NOTIFYs the relays' schedulers at commit when a definition is written, so a
changed schedule is picked up at once rather than at the next tick.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "report_definitions",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("org", sa.Text(), nullable=False),
        sa.Column("owner_id", sa.Text(), nullable=False),
        # Scheduled runs are made as the owner with the roles saved here.
        sa.Column("owner_roles", ARRAY(sa.Text()), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text()),
        sa.Column("report_type", sa.Text(), nullable=False),
        sa.Column("format", sa.Text(), nullable=False),
        sa.Column("parameters", JSONB(), nullable=False, server_default=sa.text("'{}'")),
        sa.Column("period", sa.Text()),
        sa.Column("schedule_cron", sa.Text()),
        sa.Column("schedule_timezone", sa.Text()),
        sa.Column(
            "deliveries",
            JSONB(),
            nullable=False,
            server_default=sa.text("""'[{"kind": "api", "mode": "async"}]'"""),
        ),
        sa.Column("send_when", sa.Text(), nullable=False, server_default="always"),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.text("true")),
        sa.Column("next_run_at", sa.DateTime(timezone=True)),
        sa.Column(
            "consecutive_failures", sa.Integer(), nullable=False, server_default=sa.text("0")
        ),
        sa.Column("paused_reason", sa.Text()),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.CheckConstraint("char_length(name) BETWEEN 1 AND 150", name="definitions_name_length"),
        sa.CheckConstraint(
            "(schedule_cron IS NULL) = (schedule_timezone IS NULL)",
            name="definitions_schedule_whole",
        ),
        sa.CheckConstraint(
            "send_when IN ('always', 'hasRows', 'changed')", name="definitions_send_when_valid"
        ),
    )
    op.create_index("definitions_name", "report_definitions", ["org", "name"], unique=True)
    op.create_index(
        "definitions_owner", "report_definitions", ["org", "owner_id", sa.text("created_at DESC")]
    )
    op.create_index("definitions_org", "report_definitions", ["org", sa.text("created_at DESC")])
    # The scheduler's claim: only active, scheduled definitions, by their next instant.
    op.create_index(
        "definitions_due",
        "report_definitions",
        ["next_run_at"],
        postgresql_where=sa.text("active AND next_run_at IS NOT NULL"),
    )
    op.add_column("reports", sa.Column("definition_id", UUID(as_uuid=True)))
    op.add_column(
        "reports",
        sa.Column("trigger", sa.Text(), nullable=False, server_default="request"),
    )
    op.add_column("reports", sa.Column("scheduled_for", sa.DateTime(timezone=True)))
    op.create_check_constraint(
        "reports_trigger_valid", "reports", "trigger IN ('request', 'generate', 'schedule')"
    )
    op.create_index(
        "reports_definition_instant",
        "reports",
        ["definition_id", "scheduled_for"],
        unique=True,
        postgresql_where=sa.text("scheduled_for IS NOT NULL"),
    )
    op.create_index(
        "reports_definition_runs",
        "reports",
        ["definition_id", sa.text("created_at DESC")],
        postgresql_where=sa.text("definition_id IS NOT NULL"),
    )
    op.execute(
        """
        CREATE FUNCTION definitions_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('reportbox_definitions', '');
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER definitions_notify AFTER INSERT OR UPDATE OR DELETE ON report_definitions
        FOR EACH STATEMENT EXECUTE FUNCTION definitions_notify()
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER definitions_notify ON report_definitions")
    op.execute("DROP FUNCTION definitions_notify()")
    op.drop_index("reports_definition_runs", table_name="reports")
    op.drop_index("reports_definition_instant", table_name="reports")
    op.drop_constraint("reports_trigger_valid", "reports")
    op.drop_column("reports", "scheduled_for")
    op.drop_column("reports", "trigger")
    op.drop_column("reports", "definition_id")
    op.drop_table("report_definitions")

"""The report_definitions table as the API reads and writes it, and what it shows of the runs."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, delete, func, select, text
from sqlalchemy.orm import Session

from shared.definitions import runs
from shared.models import Report, ReportDefinition

# lock_name: writers of the same name in the same org queue behind each other until commit,
# so the check that the name is free and the write that takes it cannot be outrun by a
# concurrent writer (who would otherwise meet the unique index definitions_name as a 500).
LOCK_NAME = text("SELECT pg_advisory_xact_lock(hashtext(:org), hashtext(:name))")

# Failed runs in a row are counted up to this many: what a resource shows, not a decision.
STREAK_SHOWN = 1000


def visible_to(org: str, owner_id: str | None, query: Select) -> Select:
    """Only the caller's definitions, or the org's for an admin (owner_id None)."""
    query = query.where(ReportDefinition.org == org)
    if owner_id is not None:
        query = query.where(ReportDefinition.owner_id == owner_id)
    return query


def find(
    session: Session,
    org: str,
    owner_id: str | None,
    definition_id: uuid.UUID,
    *,
    lock: bool = False,
) -> ReportDefinition | None:
    query = visible_to(org, owner_id, select(ReportDefinition)).where(
        ReportDefinition.id == definition_id
    )
    if lock:
        query = query.with_for_update()
    return session.scalars(query).first()


def page(
    session: Session, org: str, owner_id: str | None, page_number: int, page_size: int
) -> tuple[list[ReportDefinition], int]:
    """One page, newest first (definitions_owner or definitions_org), and the total."""
    matching = visible_to(org, owner_id, select(ReportDefinition))
    total = session.scalar(select(func.count()).select_from(matching.subquery())) or 0
    items = session.scalars(
        matching.order_by(ReportDefinition.created_at.desc(), ReportDefinition.id.desc())
        .limit(page_size)
        .offset((page_number - 1) * page_size)
    ).all()
    return list(items), total


def name_taken(session: Session, org: str, name: str, except_id: uuid.UUID | None = None) -> bool:
    """Locks the name until commit (LOCK_NAME), then says whether another definition has it."""
    session.execute(LOCK_NAME, {"org": org, "name": name})
    query = select(ReportDefinition.id).where(
        ReportDefinition.org == org, ReportDefinition.name == name
    )
    if except_id is not None:
        query = query.where(ReportDefinition.id != except_id)
    return session.scalars(query.limit(1)).first() is not None


def remove(session: Session, definition_id: uuid.UUID) -> None:
    """The definition goes; its runs stay in the history (no foreign key)."""
    session.execute(delete(ReportDefinition).where(ReportDefinition.id == definition_id))


def last_run(session: Session, definition_id: uuid.UUID) -> Report | None:
    """The newest run, served by reports_definition_runs."""
    return session.scalars(
        select(Report)
        .where(Report.definition_id == definition_id)
        .order_by(Report.created_at.desc())
        .limit(1)
    ).first()


def failure_streak(session: Session, definition: ReportDefinition) -> int:
    """Failed runs in a row since the definition was last resumed, as the scheduler counts."""
    return session.execute(
        runs.FAILURE_STREAK,
        {"definition_id": definition.id, "limit": STREAK_SHOWN, "since": definition.resumed_at},
    ).scalar_one()


def run_summary(session: Session, definition: ReportDefinition) -> dict[str, Any]:
    """What a definition's resource shows of its runs: the newest, and the failure streak."""
    return {
        "last_run": last_run(session, definition.id),
        "consecutive_failures": failure_streak(session, definition),
    }

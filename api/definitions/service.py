"""What the report-definition views do, without HTTP: save, read, change, delete, generate."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import Engine, func
from sqlalchemy.orm import Session, sessionmaker

from api.auth import Principal
from api.definitions import rules, store
from api.definitions.errors import (
    DefinitionNotFound,
    InvalidDefinition,
    NameTaken,
    NotAsynchronous,
    NotSynchronous,
)
from api.errors import flatten_messages
from api.reports import admission
from api.reports import service as reports
from shared.catalog import ReportType, get_report_type
from shared.config import Settings
from shared.db import translate_errors
from shared.definitions import runs
from shared.definitions.schedule import Schedule
from shared.models import ReportDefinition


def _owner_filter(principal: Principal) -> str | None:
    """Whose definitions the caller sees: their own, or (None) the org's for an admin."""
    return None if principal.is_admin else principal.user_id


def _check_may_request(principal: Principal, type_name: str) -> None:
    """403 for a type the caller may not request; an unknown type is left to validation."""
    report_type = get_report_type(type_name)
    if report_type is not None:
        reports.check_may_request(principal, report_type)


def create(
    sessions: sessionmaker[Session],
    settings: Settings,
    principal: Principal,
    fields: Mapping[str, Any],
    now: datetime | None = None,
) -> dict[str, Any]:
    """Save a new definition as the caller's, with the caller's roles for its scheduled runs."""
    now = now or datetime.now(UTC)
    _check_may_request(principal, fields["report_type"])
    checked = rules.check_definition(fields, now, settings.schedule_min_interval_seconds)
    definition = ReportDefinition(
        id=uuid.uuid4(), org=principal.org, owner_id=principal.user_id, consecutive_failures=0
    )
    with translate_errors(), sessions.begin() as session:
        if store.name_taken(session, principal.org, checked.name):
            raise NameTaken(checked.name)
        _apply(definition, checked, principal, now)
        session.add(definition)
        session.flush()
    return present(definition, {"last_run": None, "consecutive_failures": 0}, now)


def get(
    sessions: sessionmaker[Session], principal: Principal, definition_id: uuid.UUID
) -> dict[str, Any]:
    with translate_errors(), sessions() as session:
        definition = _find(session, principal, definition_id)
        summary = store.run_summary(session, definition)
    return present(definition, summary, datetime.now(UTC))


def list_page(
    sessions: sessionmaker[Session], principal: Principal, page: int, page_size: int
) -> dict[str, Any]:
    """One page of the definitions the caller sees, newest first, in the shape of /reports."""
    now = datetime.now(UTC)
    with translate_errors(), sessions() as session:
        definitions, total = store.page(
            session, principal.org, _owner_filter(principal), page, page_size
        )
        items = [
            present(definition, store.run_summary(session, definition), now)
            for definition in definitions
        ]
    return {"items": items, "page": page, "page_size": page_size, "total": total}


def update(
    sessions: sessionmaker[Session],
    settings: Settings,
    principal: Principal,
    definition_id: uuid.UUID,
    changes: Mapping[str, Any],
    now: datetime | None = None,
) -> dict[str, Any]:
    """Change what `changes` names; the whole is validated again. {"active": true} on a
    paused definition resumes it: its failure streak starts afresh."""
    now = now or datetime.now(UTC)
    with translate_errors(), sessions.begin() as session:
        definition = _find(session, principal, definition_id, lock=True)
        merged = {**_fields_of(definition), **changes}
        _check_may_request(principal, merged["report_type"])
        checked = rules.check_definition(merged, now, settings.schedule_min_interval_seconds)
        if checked.name != definition.name and store.name_taken(
            session, principal.org, checked.name, except_id=definition.id
        ):
            raise NameTaken(checked.name)
        if checked.active and not definition.active:
            definition.paused_reason = None
            definition.consecutive_failures = 0
            definition.resumed_at = func.now()
        # The roles of scheduled runs follow their owner's token, never an admin's.
        owner = principal if principal.user_id == definition.owner_id else None
        _apply(definition, checked, owner, now)
        definition.updated_at = func.now()
        session.flush()
        session.refresh(definition)
        summary = store.run_summary(session, definition)
    return present(definition, summary, now)


def delete(sessions: sessionmaker[Session], principal: Principal, definition_id: uuid.UUID) -> None:
    with translate_errors(), sessions.begin() as session:
        definition = _find(session, principal, definition_id, lock=True)
        store.remove(session, definition.id)


@dataclass(frozen=True)
class Run:
    """What a run of a definition is made of: its type, format and concrete parameters."""

    definition_id: uuid.UUID
    report_type: ReportType
    format: str
    parameters: dict[str, Any]


def run_now(
    sessions: sessionmaker[Session],
    principal: Principal,
    definition_id: uuid.UUID,
    mode: str,
    now: datetime | None = None,
) -> Run:
    """The definition's run at `now` (its period resolved in its zone), if the caller may see
    it (404), may request its type (403) and it has an api delivery in `mode` (409)."""
    now = now or datetime.now(UTC)
    with translate_errors(), sessions() as session:
        definition = _find(session, principal, definition_id)
    report_type = get_report_type(definition.report_type)
    if report_type is None:
        raise InvalidDefinition(
            {"reportType": [f"there is no report type {definition.report_type!r} any more"]}
        )
    reports.check_may_request(principal, report_type)
    if not rules.has_api_delivery(definition.deliveries, mode):
        raise NotAsynchronous() if mode == "async" else NotSynchronous()
    try:
        parameters = runs.parameters_at(
            report_type, definition.parameters, definition.period, definition.schedule_timezone, now
        )
    except ValidationError as exc:
        raise InvalidDefinition(
            flatten_messages(exc.messages, "parameters"),
            "The definition's parameters no longer fit its report type; change them.",
        ) from exc
    return Run(definition.id, report_type, definition.format, parameters)


def generate(
    engine: Engine,
    source: Engine,
    sessions: sessionmaker[Session],
    settings: Settings,
    principal: Principal,
    definition_id: uuid.UUID,
    idempotency_key: str | None,
) -> admission.Accepted:
    """Run an async definition now as the caller, through the admission: its limits apply."""
    run = run_now(sessions, principal, definition_id, "async")
    if run.format == "pdf":
        reports.check_pdf_estimate(
            source, run.report_type, principal.org, run.parameters, settings.pdf_max_rows
        )
    return admission.admit(
        engine,
        principal,
        run.report_type,
        run.format,
        run.parameters,
        idempotency_key=idempotency_key,
        max_active=settings.max_active_reports_per_user,
        max_per_minute=settings.max_reports_per_user_per_minute,
        definition_id=run.definition_id,
        trigger="generate",
    )


def _find(
    session: Session, principal: Principal, definition_id: uuid.UUID, *, lock: bool = False
) -> ReportDefinition:
    definition = store.find(
        session, principal.org, _owner_filter(principal), definition_id, lock=lock
    )
    if definition is None:
        raise DefinitionNotFound()
    return definition


def _fields_of(definition: ReportDefinition) -> dict[str, Any]:
    """The stored definition as the fields a client writes (what a PATCH is merged onto)."""
    schedule = None
    if definition.schedule_cron is not None:
        schedule = {"cron": definition.schedule_cron, "timezone": definition.schedule_timezone}
    return {
        "name": definition.name,
        "description": definition.description,
        "report_type": definition.report_type,
        "format": definition.format,
        "parameters": definition.parameters,
        "period": definition.period,
        "schedule": schedule,
        "deliveries": definition.deliveries,
        "send_when": definition.send_when,
        "active": definition.active,
    }


def _apply(
    definition: ReportDefinition,
    checked: rules.Checked,
    owner: Principal | None,
    now: datetime,
) -> None:
    definition.name = checked.name
    definition.description = checked.description
    definition.report_type = checked.report_type.name
    definition.format = checked.format
    definition.parameters = checked.parameters
    definition.period = checked.period
    definition.schedule_cron = checked.schedule.cron if checked.schedule else None
    definition.schedule_timezone = checked.schedule.timezone if checked.schedule else None
    definition.deliveries = checked.deliveries
    definition.send_when = checked.send_when
    definition.active = checked.active
    definition.next_run_at = rules.next_run_at(checked.schedule, checked.active, now)
    if owner is not None:
        definition.owner_roles = sorted(owner.roles)


def present(
    definition: ReportDefinition, summary: Mapping[str, Any], now: datetime
) -> dict[str, Any]:
    """The definition as its resource (snake_case; DefinitionSchema dumps it)."""
    schedule = None
    if definition.schedule_cron is not None and definition.schedule_timezone is not None:
        schedule = Schedule(definition.schedule_cron, definition.schedule_timezone)
    last = summary["last_run"]
    return {
        "definition_id": definition.id,
        "name": definition.name,
        "description": definition.description,
        "report_type": definition.report_type,
        "format": definition.format,
        "parameters": definition.parameters,
        "period": definition.period,
        "schedule": {"cron": schedule.cron, "timezone": schedule.timezone} if schedule else None,
        "deliveries": definition.deliveries,
        "send_when": definition.send_when,
        "active": definition.active,
        "owner": definition.owner_id,
        "created_at": definition.created_at,
        "updated_at": definition.updated_at,
        "next_run_at": definition.next_run_at.astimezone(schedule.zone)
        if schedule is not None and definition.next_run_at is not None
        else definition.next_run_at,
        "next_runs": rules.next_runs(schedule, definition.active, now),
        "last_run": {
            "report_id": last.id,
            "status": last.status,
            "scheduled_for": last.scheduled_for,
            "trigger": last.trigger,
        }
        if last is not None
        else None,
        "consecutive_failures": summary["consecutive_failures"],
        "paused_reason": definition.paused_reason,
    }

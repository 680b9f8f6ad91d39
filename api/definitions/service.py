"""What the report-definition views do, without HTTP: save, read, change, delete, run.

Each view calls one function of the first section with the app's Dependencies; refusals
are the domain errors of shared/errors.py, which api/errors.py answers.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import func
from sqlalchemy.orm import Session, sessionmaker

from api.auth import Principal
from api.definitions import deliveries, presenter, rules, store
from api.definitions.content import Content, build_content
from api.dependencies import Dependencies
from api.errors import flatten_messages
from api.reports import admission
from api.reports import service as reports
from shared import report_counters
from shared.catalog import ReportType, get_report_type
from shared.db import translate_errors
from shared.definitions import runs
from shared.deliveries.kinds import kinds_for
from shared.errors import (
    DefinitionNameTaken,
    DefinitionNotFound,
    InvalidParameters,
    NotAsynchronous,
    NotSynchronous,
)
from shared.models import ReportDefinition
from worker.formats import formats_for

log = logging.getLogger(__name__)


def _owner_filter(principal: Principal) -> str | None:
    """Whose definitions the caller sees: their own, or (None) the org's for an admin."""
    return None if principal.is_admin else principal.user_id


def _check_may_request(principal: Principal, type_name: str) -> None:
    """403 for a type the caller may not request; an unknown type is left to validation."""
    report_type = get_report_type(type_name)
    if report_type is not None:
        reports.check_may_request(principal, report_type)


def create(deps: Dependencies, principal: Principal, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Save a new definition as the caller's, with the caller's roles for its scheduled runs."""
    now = datetime.now(UTC)
    _check_may_request(principal, fields["report_type"])
    checked = _check(deps, principal, fields, [], now)
    definition = ReportDefinition(
        id=uuid.uuid4(), org=principal.org, owner_id=principal.user_id, consecutive_failures=0
    )
    with translate_errors(), deps.sessions.begin() as session:
        if store.name_taken(session, principal.org, checked.name):
            raise DefinitionNameTaken(checked.name)
        _apply(definition, checked, principal, now)
        session.add(definition)
        session.flush()
    log.info("definition.created definition_id=%s", definition.id)
    return presenter.present(definition, {"last_run": None, "consecutive_failures": 0}, now)


def get(deps: Dependencies, principal: Principal, definition_id: uuid.UUID) -> dict[str, Any]:
    with translate_errors(), deps.sessions() as session:
        definition = _find(session, principal, definition_id)
        summary = store.run_summary(session, definition)
    return presenter.present(definition, summary, datetime.now(UTC))


def list_page(deps: Dependencies, principal: Principal, query: Mapping[str, Any]) -> dict[str, Any]:
    """One page of the definitions the caller sees, newest first, in the shape of /reports."""
    now = datetime.now(UTC)
    page, page_size = query["page"], query["page_size"]
    with translate_errors(), deps.sessions() as session:
        definitions, total = store.page(
            session, principal.org, _owner_filter(principal), page, page_size
        )
        items = [
            presenter.present(definition, store.run_summary(session, definition), now)
            for definition in definitions
        ]
    return {"items": items, "page": page, "page_size": page_size, "total": total}


def update(
    deps: Dependencies,
    principal: Principal,
    definition_id: uuid.UUID,
    changes: Mapping[str, Any],
) -> dict[str, Any]:
    """Change what `changes` names; the whole is validated again. {"active": true} on a
    paused definition resumes it: its failure streak starts afresh."""
    now = datetime.now(UTC)
    with translate_errors(), deps.sessions.begin() as session:
        definition = _find(session, principal, definition_id, lock=True)
        merged = {**_fields_of(definition), **changes}
        _check_may_request(principal, merged["report_type"])
        checked = _check(deps, principal, merged, definition.deliveries or [], now)
        if checked.name != definition.name and store.name_taken(
            session, principal.org, checked.name, except_id=definition.id
        ):
            raise DefinitionNameTaken(checked.name)
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
    log.info("definition.changed definition_id=%s", definition_id)
    return presenter.present(definition, summary, now)


def delete(deps: Dependencies, principal: Principal, definition_id: uuid.UUID) -> None:
    """The definition goes; its runs stay in the history."""
    with translate_errors(), deps.sessions.begin() as session:
        definition = _find(session, principal, definition_id, lock=True)
        store.remove(session, definition.id)
    log.info("definition.deleted definition_id=%s", definition_id)


def generate(
    deps: Dependencies,
    principal: Principal,
    definition_id: uuid.UUID,
    idempotency_key: str | None,
) -> admission.Accepted:
    """Run an async definition now as the caller, through the admission: its limits apply."""
    run = run_now(deps.sessions, principal, definition_id, "async")
    if run.format == "pdf":
        reports.check_pdf_estimate(
            deps.source, run.report_type, principal.org, run.parameters, deps.settings.pdf_max_rows
        )
    accepted = admission.admit(
        deps.engine,
        principal,
        run.report_type,
        run.format,
        run.parameters,
        idempotency_key=reports.check_idempotency_key(idempotency_key),
        max_active=deps.settings.max_active_reports_per_user,
        max_per_minute=deps.settings.max_reports_per_user_per_minute,
        definition_id=run.definition_id,
        trigger="generate",
    )
    log.info(
        "definition.generated definition_id=%s report_id=%s replayed=%s",
        definition_id,
        accepted.report_id,
        accepted.replayed,
    )
    if not accepted.replayed:
        report_counters.RUNS.labels("generate").inc()
        report_counters.CREATED.labels(accepted.report_type, run.format).inc()
    return accepted


def content(deps: Dependencies, principal: Principal, definition_id: uuid.UUID) -> Content:
    """A sync definition's file, built now as the caller, within SYNC_MAX_ROWS and
    SYNC_TIMEOUT_SECONDS."""
    run = run_now(deps.sessions, principal, definition_id, "sync")
    built = build_content(
        deps.source,
        formats_for(deps.settings)[run.format],
        run.report_type,
        principal.org,
        run.parameters,
        deps.settings.sync_max_rows,
        deps.settings.sync_timeout_seconds,
    )
    log.info("definition.content definition_id=%s rows=%d", definition_id, built.rows)
    return built


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
        raise InvalidParameters(
            "The definition's report type no longer exists.",
            {"reportType": [f"there is no report type {definition.report_type!r} any more"]},
        )
    reports.check_may_request(principal, report_type)
    if not rules.has_api_delivery(definition.deliveries, mode):
        raise NotAsynchronous() if mode == "async" else NotSynchronous()
    try:
        parameters = runs.parameters_at(
            report_type, definition.parameters, definition.period, definition.schedule_timezone, now
        )
    except ValidationError as exc:
        raise InvalidParameters(
            "The definition's parameters no longer fit its report type; change them.",
            flatten_messages(exc.messages, "parameters"),
        ) from exc
    return Run(definition.id, report_type, definition.format, parameters)


def _check(
    deps: Dependencies,
    principal: Principal,
    fields: Mapping[str, Any],
    stored: list[dict[str, Any]],
    now: datetime,
) -> rules.Checked:
    """The definition checked whole, its delivery targets admitted (who may add them, proved
    to work, secrets sealed) against the ones `stored` already."""
    settings = deps.settings
    opened = {
        **fields,
        "deliveries": deliveries.open_targets(
            fields.get("deliveries"), stored, settings.delivery_secrets_key
        ),
    }
    if fields.get("deliveries") is None:
        opened.pop("deliveries")
    checked = rules.check_definition(
        opened, now, settings.schedule_min_interval_seconds, kinds_for(settings)
    )
    admitted = deliveries.admit_targets(principal, checked.deliveries, stored, settings)
    return replace(checked, deliveries=admitted)


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

"""The report row and its outbox message are written together or not at all."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from api.auth import Principal
from api.reports import admission
from shared.catalog import get_report_type
from shared.db import UniqueViolation
from shared.messages import ReportRequested
from shared.models import OutboxMessage, Report


def test_a_failing_outbox_insert_leaves_no_report_behind(sessions, engine, monkeypatch):
    # An outbox row that already holds the message id makes the second insert fail,
    # after the report insert has been sent to the database.
    taken = ReportRequested.new(uuid.uuid4())
    with sessions.begin() as session:
        session.add(
            OutboxMessage(
                message_id=taken.message_id,
                message_type=taken.TYPE,
                report_id=taken.report_id,
                body=taken.encode(),
            )
        )
    created: list[uuid.UUID] = []

    def colliding_message(report_id, occurred_at=None):
        created.append(report_id)
        return ReportRequested(taken.message_id, report_id, taken.occurred_at)

    monkeypatch.setattr(ReportRequested, "new", staticmethod(colliding_message))
    principal = Principal("atomic-user", "acme", frozenset({"analyst"}))

    with pytest.raises(UniqueViolation):
        admission.admit(
            engine,
            principal,
            get_report_type("sessions"),
            "csv",
            {"fromDate": "2026-01-01", "toDate": "2026-01-02"},
        )

    assert len(created) == 1
    with sessions() as session:
        assert session.get(Report, created[0]) is None
        rows = session.scalars(
            select(OutboxMessage).where(OutboxMessage.message_id == taken.message_id)
        ).all()
    assert len(rows) == 1

"""Email deliveries end to end inside one process: a definition's run completed by the real
exporter writes its deliveries, the dispatcher's delivery loop sends them to a real SMTP
server (aiosmtpd on loopback), retries 4xx, fails 5xx recipients at once, and sendWhen skips."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import text

from dispatcher.deliveries import DeliveryLoop
from shared.deliveries.email_kind import EmailKind
from shared.storage import Storage
from tests.integration import mail_server


@pytest.fixture
def smtp():
    server = mail_server.MailServer()
    controller, url = mail_server.start(server)
    server.url = url
    yield server
    controller.stop()


@pytest.fixture
def mail_settings(settings, smtp):
    return settings.with_overrides(
        smtp_url=smtp.url,
        email_from="Reportbox <reports@example.com>",
        # Far off: a retry here comes due only when a test sets it due (a short delay would
        # let the same round's next claim take it again, racing the clock).
        delivery_retry_schedule="600",
        public_base_url="https://reports.example.com",
    )


@pytest.fixture
def loop(mail_settings, engine):
    kind = EmailKind()
    kind.configure(mail_settings)
    storage = Storage(mail_settings)
    loop = DeliveryLoop(
        mail_settings, engine, storage.bucket, storage.open_object, kinds={"email": kind}
    )
    yield loop
    loop.stop()


@pytest.fixture(autouse=True)
def only_this_tests_deliveries(engine):
    """Deliveries earlier tests left are ended: a claim here sees this test's alone."""
    with engine.begin() as connection:
        connection.execute(text("UPDATE deliveries SET state = 'Failed' WHERE state = 'Pending'"))


def make_definition(engine, org, deliveries, send_when="always") -> uuid.UUID:
    definition_id = uuid.uuid4()
    with engine.begin() as connection:
        connection.execute(
            text(
                """
                INSERT INTO report_definitions
                    (id, org, owner_id, owner_roles, name, report_type, format, parameters,
                     deliveries, send_when)
                VALUES (:id, :org, 'alice', '{analyst}', :name, 'sessions', 'csv',
                        '{}', CAST(:deliveries AS jsonb), :send_when)
                """
            ),
            {
                "id": definition_id,
                "org": org,
                "name": f"Weekly sessions {definition_id.hex[:6]}",
                "deliveries": json.dumps(deliveries),
                "send_when": send_when,
            },
        )
    return definition_id


@pytest.fixture
def run(engine, make_report, exporter):
    """A run of the definition, exported by the real exporter; returns its report id."""

    def make(definition_id, parameters=None):
        report = make_report(org="acme", parameters=parameters)
        with engine.begin() as connection:
            connection.execute(
                text("UPDATE reports SET definition_id = :d, trigger = 'generate' WHERE id = :r"),
                {"d": definition_id, "r": report.id},
            )
        exporter.process(report.id)
        return report.id

    return make


def deliveries_of(engine, report_id):
    with engine.connect() as connection:
        return connection.execute(
            text("SELECT * FROM deliveries WHERE report_id = :r ORDER BY position"),
            {"r": report_id},
        ).all()


def send_due(loop) -> int:
    made = 0
    while futures := loop.run_once():
        for future in futures:
            future.result(timeout=30)
        made += len(futures)
    return made


EMAIL = {
    "kind": "email",
    "recipients": ["ops@example.com"],
    "subject": "{name} for {scheduledDate}",
}


def test_the_message_arrives_with_the_stored_file_attached(engine, loop, smtp, run, read_object):
    definition_id = make_definition(engine, "acme", [{"kind": "api", "mode": "async"}, EMAIL])
    report_id = run(definition_id)
    (delivery,) = deliveries_of(engine, report_id)
    assert (delivery.kind, delivery.state, delivery.position) == ("email", "Pending", 1)
    assert send_due(loop) == 1
    (received,) = smtp.wait_for(1)
    assert received.recipients == ["ops@example.com"]
    assert received.sender == "reports@example.com"
    assert received.message["Subject"].startswith("Weekly sessions")
    with engine.connect() as connection:
        report = connection.execute(
            text("SELECT object_key, file_name FROM reports WHERE id = :r"), {"r": report_id}
        ).one()
    (attachment,) = list(received.message.iter_attachments())
    assert attachment.get_filename() == report.file_name
    assert attachment.get_payload(decode=True) == read_object(report.object_key)
    body = received.message.get_body(("plain",)).get_content()
    assert f"https://reports.example.com/?id={report_id}" in body
    (delivery,) = deliveries_of(engine, report_id)
    assert (delivery.state, delivery.attempts, delivery.last_error) == ("Delivered", 1, None)
    assert delivery.delivered_at is not None


def test_a_larger_file_is_linked_not_attached(engine, loop, smtp, run, mail_settings):
    definition_id = make_definition(engine, "acme", [EMAIL])
    kind = loop._kinds["email"]
    kind.configure(mail_settings.with_overrides(email_attachment_max_bytes=1))
    report_id = run(definition_id)
    send_due(loop)
    (received,) = smtp.wait_for(1)
    assert list(received.message.iter_attachments()) == []
    assert "Download the file" in received.message.get_body(("plain",)).get_content()
    assert deliveries_of(engine, report_id)[0].state == "Delivered"


def test_a_4xx_is_retried_then_delivered(engine, loop, smtp, run):
    refusals = ["451 4.3.0 try again later"]
    smtp.refuse_data = lambda: refusals.pop() if refusals else None
    report_id = run(make_definition(engine, "acme", [EMAIL]))
    assert send_due(loop) == 1
    (delivery,) = deliveries_of(engine, report_id)
    assert delivery.state == "Pending"
    assert "451" in delivery.last_error
    with engine.begin() as connection:  # due now rather than after the schedule's delay
        connection.execute(
            text("UPDATE deliveries SET next_attempt_at = now() WHERE id = :id"),
            {"id": delivery.id},
        )
    assert send_due(loop) == 1
    smtp.wait_for(1)
    (delivery,) = deliveries_of(engine, report_id)
    assert (delivery.state, delivery.attempts, delivery.last_error) == ("Delivered", 2, None)


def test_a_refused_recipient_fails_at_once_naming_it_and_nobody_gets_a_copy(
    engine, loop, smtp, run
):
    smtp.refuse_recipient = lambda address: (
        "550 5.1.1 no such user" if address == "gone@example.com" else None
    )
    target = {**EMAIL, "recipients": ["ops@example.com", "gone@example.com"]}
    report_id = run(make_definition(engine, "acme", [target]))
    assert send_due(loop) == 1
    (delivery,) = deliveries_of(engine, report_id)
    assert delivery.state == "Failed"
    assert "gone@example.com" in delivery.last_error and "550" in delivery.last_error
    assert smtp.received == []
    with engine.connect() as connection:
        status = connection.execute(
            text("SELECT status FROM reports WHERE id = :r"), {"r": report_id}
        ).scalar()
    assert status == "Completed"  # a failing delivery never changes the report


def test_has_rows_skips_an_empty_run(engine, loop, smtp, run):
    definition_id = make_definition(engine, "acme", [EMAIL], send_when="hasRows")
    report_id = run(definition_id, {"fromDate": "1990-01-01", "toDate": "1990-01-02"})
    (delivery,) = deliveries_of(engine, report_id)
    assert delivery.state == "Skipped"
    assert "hasRows" in delivery.last_error
    assert send_due(loop) == 0


def test_changed_skips_a_file_equal_to_the_last_delivered(engine, loop, smtp, run):
    definition_id = make_definition(engine, "acme", [EMAIL], send_when="changed")
    first = run(definition_id)
    send_due(loop)
    smtp.wait_for(1)
    same = run(definition_id)
    assert deliveries_of(engine, same)[0].state == "Skipped"
    other = run(definition_id, {"fromDate": "2026-02-01", "toDate": "2026-02-28"})
    assert deliveries_of(engine, other)[0].state == "Pending"
    assert deliveries_of(engine, first)[0].state == "Delivered"

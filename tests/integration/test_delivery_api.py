"""Deliveries through the API: email targets saved and shown, who may add them, secrets that
are never returned nor logged, masked secrets that follow their targets, the run's deliveries
on its report, and a retry that sends one target again alone."""

from __future__ import annotations

import logging
import os
import uuid

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from api.app import create_app
from dispatcher.deliveries import DeliveryLoop
from shared.deliveries import rows
from shared.deliveries.email_kind import EmailKind
from shared.deliveries.kinds import KINDS
from shared.secrets import MASK, unseal
from shared.storage import Storage
from tests import services
from tests.integration import mail_server
from tests.services import LOCAL_S3_CUSTOMER_KEY, LOCAL_S3_CUSTOMER_SECRET

BASE = "/api/v1/report-definitions"
SECRET = "hunter2-never-shown"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def body(**fields) -> dict:
    return {
        "name": f"daily {uuid.uuid4().hex[:8]}",
        "reportType": "sessions",
        "format": "csv",
        "parameters": {"fromDate": "2026-01-01", "toDate": "2026-01-03"},
        **fields,
    }


@pytest.fixture
def smtp():
    server = mail_server.MailServer()
    controller, server.url = mail_server.start(server)
    yield server
    controller.stop()


@pytest.fixture
def api_settings(app, smtp):
    return app.extensions["reportbox"].settings.with_overrides(
        smtp_url=smtp.url, delivery_retry_schedule="0.01"
    )


@pytest.fixture(scope="module")
def app(settings):
    app = create_app(
        settings.with_overrides(
            email_allowed_domains="example.com",
            delivery_secrets_key=Fernet.generate_key().decode(),
        )
    )
    yield app
    extensions = app.extensions["reportbox"]
    extensions.engine.dispose()
    if getattr(extensions, "source", None) is not None:
        extensions.source.dispose()


@pytest.fixture
def api(app):
    return app.test_client()


@pytest.fixture
def org():
    return f"dlv-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def analyst(make_token, org):
    return bearer(make_token(org=org, roles=("analyst",)))


@pytest.fixture
def admin(make_token, org):
    return bearer(make_token(org=org, roles=("admin", "analyst")))


class VaultKind:
    """A kind with a secret, standing in for s3 and sftp (their own branch)."""

    name = "vault"
    secret_fields = frozenset({"password"})
    admin_only = True
    identity_names = "user"

    def __init__(self) -> None:
        self.proved: list[dict] = []

    def identity(self, target):
        return (target["user"],)

    def validate(self, target):
        return {"kind": "vault", "user": target["user"], "password": target["password"]}

    def prove(self, target):
        self.proved.append(dict(target))

    def send(self, target, delivered):
        raise AssertionError("not sent in these tests")


@pytest.fixture
def vault(monkeypatch):
    kind = VaultKind()
    monkeypatch.setitem(KINDS, "vault", kind)
    return kind


def test_an_email_delivery_is_saved_and_shown(api, analyst):
    email = {"kind": "email", "recipients": ["Ops@Example.com"], "subject": "{name}"}
    created = api.post(BASE, json=body(deliveries=[email]), headers=analyst)
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["deliveries"] == [
        {"kind": "email", "recipients": ["Ops@example.com"], "subject": "{name}", "attach": "auto"}
    ]


def test_mail_outside_the_allowed_domains_needs_an_admin(api, analyst, admin):
    outside = {"kind": "email", "recipients": ["someone@elsewhere.org"]}
    refused = api.post(BASE, json=body(deliveries=[outside]), headers=analyst)
    assert refused.status_code == 403
    assert refused.mimetype == "application/problem+json"
    assert api.post(BASE, json=body(deliveries=[outside]), headers=admin).status_code == 201


def test_a_bad_recipient_is_a_422_naming_it(api, analyst):
    bad = {"kind": "email", "recipients": ["a@example.com", "x@example.com\r\nBcc: y@z.com"]}
    answer = api.post(BASE, json=body(deliveries=[bad]), headers=analyst)
    assert answer.status_code == 422
    assert list(answer.get_json()["errors"]) == ["deliveries.0.recipients.1"]


def test_secrets_are_sealed_never_returned_nor_logged(api, admin, analyst, engine, vault, caplog):
    caplog.set_level(logging.DEBUG)
    target = {"kind": "vault", "user": "u", "password": SECRET}
    assert api.post(BASE, json=body(deliveries=[target]), headers=analyst).status_code == 403
    created = api.post(BASE, json=body(deliveries=[target]), headers=admin)
    assert created.status_code == 201
    definition = created.get_json()
    assert definition["deliveries"] == [{"kind": "vault", "user": "u", "password": MASK}]
    assert vault.proved == [target]  # proved in the clear, at save
    with engine.connect() as connection:
        stored = connection.execute(
            text("SELECT deliveries::text FROM report_definitions WHERE id = :id"),
            {"id": definition["definitionId"]},
        ).scalar()
    assert SECRET not in stored and "sealed" in stored
    url = f"{BASE}/{definition['definitionId']}"
    # Sent back masked, the secret stays; the target is not proved again.
    changed = api.patch(url, json={"deliveries": definition["deliveries"]}, headers=admin)
    assert changed.status_code == 200
    assert vault.proved == [target]
    answers = [
        changed.get_data(as_text=True),
        api.get(url, headers=admin).get_data(as_text=True),
        api.get(BASE, headers=admin).get_data(as_text=True),
    ]
    assert all(SECRET not in answer for answer in answers)
    assert SECRET not in caplog.text


def test_the_report_lists_its_deliveries_and_a_retry_sends_one_again(
    api, api_settings, admin, engine, exporter, smtp
):
    targets = [
        {"kind": "api", "mode": "async"},
        {"kind": "email", "recipients": ["one@example.com"]},
        {"kind": "email", "recipients": ["two@example.com"]},
    ]
    definition = api.post(BASE, json=body(deliveries=targets), headers=admin).get_json()
    generated = api.post(f"/api/v1/reports/{definition['definitionId']}/generate", headers=admin)
    report_id = generated.get_json()["reportId"]
    exporter.process(uuid.UUID(report_id))
    kind = EmailKind()
    kind.configure(api_settings)
    storage = Storage(api_settings)
    loop = DeliveryLoop(api_settings, engine, storage.bucket, storage.open_object, {"email": kind})
    with engine.begin() as connection:  # others' leftovers are not this loop's to send
        connection.execute(
            text(
                "UPDATE deliveries SET state = 'Failed' WHERE state = 'Pending' AND report_id <> :r"
            ),
            {"r": report_id},
        )
    while futures := loop.run_once():
        for future in futures:
            future.result(timeout=30)
    smtp.wait_for(2)
    report = api.get(f"/api/v1/reports/{report_id}", headers=admin).get_json()
    assert [(d["kind"], d["status"], d["attempts"]) for d in report["deliveries"]] == [
        ("email", "Delivered", 1),
        ("email", "Delivered", 1),
    ]
    assert set(report["deliveries"][0]) == {
        "deliveryId",
        "kind",
        "status",
        "attempts",
        "lastError",
        "deliveredAt",
    }
    second = report["deliveries"][1]["deliveryId"]
    retried = api.post(f"/api/v1/reports/{report_id}/deliveries/{second}/retry", headers=admin)
    assert retried.status_code == 202
    assert [d["status"] for d in retried.get_json()["deliveries"]] == ["Delivered", "Pending"]
    while futures := loop.run_once():
        for future in futures:
            future.result(timeout=30)
    received = smtp.wait_for(3)
    assert received[2].recipients == ["two@example.com"]
    assert len(received) == 3
    report = api.get(f"/api/v1/reports/{report_id}", headers=admin).get_json()
    assert [d["attempts"] for d in report["deliveries"]] == [1, 2]
    assert (
        api.post(
            f"/api/v1/reports/{report_id}/deliveries/{uuid.uuid4()}/retry", headers=admin
        ).status_code
        == 404
    )
    loop.stop()


def test_a_retry_asked_mid_attempt_outlives_the_attempts_record(api, admin, engine, exporter):
    """The attempt in hand records its outcome, but the delivery stays Pending and due: the
    retry asked meanwhile is made next, not dropped."""
    targets = [{"kind": "api", "mode": "async"}, {"kind": "email", "recipients": ["a@example.com"]}]
    definition = api.post(BASE, json=body(deliveries=targets), headers=admin).get_json()
    generated = api.post(f"/api/v1/reports/{definition['definitionId']}/generate", headers=admin)
    report_id = generated.get_json()["reportId"]
    exporter.process(uuid.UUID(report_id))
    report_url = f"/api/v1/reports/{report_id}"
    (delivery,) = api.get(report_url, headers=admin).get_json()["deliveries"]
    delivery_id = uuid.UUID(delivery["deliveryId"])
    with engine.begin() as connection:  # a dispatcher takes it and starts sending
        (leased,) = connection.execute(
            rows.LEASE, {"ids": [delivery_id], "lease_seconds": 60}
        ).all()
    retry_url = f"{report_url}/deliveries/{delivery_id}/retry"
    assert api.post(retry_url, headers=admin).status_code == 202

    with engine.begin() as connection:  # the send ends, delivered
        written = connection.execute(
            rows.RECORD,
            {
                "id": delivery_id,
                "attempts": leased.attempts,
                "status": "Delivered",
                "next_attempt_at": None,
                "error": None,
            },
        ).scalar()
        due = [row.id for row in connection.execute(rows.CLAIM_DUE, {"limit": 1000})]

    assert written == "Pending"
    assert delivery_id in due
    (after,) = api.get(report_url, headers=admin).get_json()["deliveries"]
    assert (after["status"], after["attempts"], after["deliveredAt"]) == ("Pending", 1, None)
    with engine.begin() as connection:  # not left for another test's loop to send
        connection.execute(
            text("UPDATE deliveries SET state = 'Failed' WHERE id = :id"), {"id": delivery_id}
        )


@pytest.fixture
def customer_bucket(settings):
    """A bucket of the local store's customer identity, deleted afterwards."""
    if os.environ.get("TEST_S3_ENDPOINT_URL"):
        pytest.skip("the S3 endpoint of TEST_S3_ENDPOINT_URL has no customer identity")
    with services.customer_bucket(settings) as bucket:
        yield bucket


def stored_deliveries(engine, definition_id: str) -> list[dict]:
    with engine.connect() as connection:
        return connection.execute(
            text("SELECT deliveries FROM report_definitions WHERE id = :id"),
            {"id": definition_id},
        ).scalar()


def test_masked_s3_secrets_follow_their_targets_and_a_new_identity_needs_its_secret(
    api, app, admin, engine, settings, customer_bucket
):
    def target(prefix: str, key_id: str, secret: str) -> dict:
        return {
            "kind": "s3",
            "bucket": customer_bucket,
            "prefix": prefix,
            "endpointUrl": settings.s3_endpoint_url,
            "accessKeyId": key_id,
            "secretAccessKey": secret,
        }

    ours = target("ours", settings.aws_access_key_id, settings.aws_secret_access_key)
    customers = target("customer", LOCAL_S3_CUSTOMER_KEY, LOCAL_S3_CUSTOMER_SECRET)
    created = api.post(BASE, json=body(deliveries=[ours, customers]), headers=admin)
    assert created.status_code == 201, created.get_json()
    definition = created.get_json()
    url = f"{BASE}/{definition['definitionId']}"
    first, second = definition["deliveries"]

    # Swapped and each moved to another prefix: each is proved again with its own secret (the
    # store refuses a signature made with the other one), and keeps it.
    swapped = [{**second, "prefix": "customer/v2"}, {**first, "prefix": "ours/v2"}]
    changed = api.patch(url, json={"deliveries": swapped}, headers=admin)
    assert changed.status_code == 200, changed.get_json()
    key = app.extensions["reportbox"].settings.delivery_secrets_key
    kept = [
        unseal(saved, {"secretAccessKey"}, key)
        for saved in stored_deliveries(engine, definition["definitionId"])
    ]
    assert [(t["prefix"], t["accessKeyId"], t["secretAccessKey"]) for t in kept] == [
        ("customer/v2", LOCAL_S3_CUSTOMER_KEY, LOCAL_S3_CUSTOMER_SECRET),
        ("ours/v2", settings.aws_access_key_id, settings.aws_secret_access_key),
    ]

    # Another access key sent with the mask: no saved secret is its, so nothing is saved.
    before = stored_deliveries(engine, definition["definitionId"])
    other_key = [changed.get_json()["deliveries"][0], {**first, "accessKeyId": "someone-else"}]
    refused = api.patch(url, json={"deliveries": other_key}, headers=admin)
    assert refused.status_code == 422
    assert refused.mimetype == "application/problem+json"
    (message,) = refused.get_json()["errors"]["deliveries.1.secretAccessKey"]
    assert message.startswith("enter the secret access key again: no saved target")
    assert stored_deliveries(engine, definition["definitionId"]) == before

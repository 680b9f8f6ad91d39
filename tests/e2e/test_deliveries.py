"""Deliveries end to end (DESIGN.md section 9): api, relay, worker and dispatcher as real
processes send each run to a real SMTP server (aiosmtpd), the S3 store's customer bucket and
a real SFTP server (asyncssh), all in the test.

One stack for the module, with a 1 s retry schedule and a small attachment cap, so an outage
of "a minute" is one of a few seconds and a file of a few kilobytes is "too big to attach".
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh
import jwt
import pytest
from aiosmtpd.controller import Controller
from cryptography.fernet import Fernet

from shared.secrets import MASK
from tests.conftest import RUN_ID
from tests.e2e.api_client import Answer, ApiClient
from tests.e2e.conftest import Stack, running_stack
from tests.e2e.faultstack import eventually
from tests.integration import mail_server
from tests.integration.delivery_helpers import SftpServer, sftp_server
from tests.services import (
    LOCAL_S3_CUSTOMER_KEY,
    LOCAL_S3_CUSTOMER_SECRET,
    free_port,
    s3_client,
)

pytestmark = pytest.mark.e2e

ALLOWED_DOMAIN = "example.com"  # EMAIL_ALLOWED_DOMAINS: anyone may mail there
ATTACHMENT_CAP = 16 * 1024  # EMAIL_ATTACHMENT_MAX_BYTES
SMALL = {"fromDate": "2026-01-01", "toDate": "2026-01-02"}  # about 2 KiB of CSV: attached
LARGE = {"fromDate": "2026-01-01", "toDate": "2026-02-28"}  # about 50 KiB: linked
EMPTY = {"fromDate": "2025-06-01", "toDate": "2025-06-02"}  # before the demo data: no rows
SFTP_PASSWORD = f"sftp-password-{uuid.uuid4().hex}"
TERMINAL = {"Delivered", "Failed", "Skipped"}


class Mailbox:
    """A real SMTP server on a port of its own, which the test may take down and bring
    back on the same port."""

    def __init__(self) -> None:
        self.server = mail_server.MailServer()
        self.port = free_port()
        self.url = f"smtp://127.0.0.1:{self.port}"
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller, _ = mail_server.start(self.server, self.port)

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def to(self, address: str) -> list[mail_server.Received]:
        """What arrived for `address` so far."""
        with self.server.arrived:
            return [item for item in self.server.received if address in item.recipients]


@dataclass
class World:
    stack: Stack
    mailbox: Mailbox
    sftp: SftpServer  # the customer's SFTP server, its files under sftp_root
    sftp_root: Path
    bucket: str  # the customer's bucket in the test S3 store
    s3_keys: dict[str, str]  # the keys the customer gave for it
    secrets: tuple[str, ...]  # what must never be shown or logged

    def client(self, org: str = "acme", roles: tuple[str, ...] = ("admin",)) -> ApiClient:
        """A user of its own, so no limit on one user's reports joins two tests."""
        settings = self.stack.settings
        now = int(time.time())
        claims = {
            "sub": f"e2e-{uuid.uuid4().hex[:10]}",
            "org": org,
            "roles": list(roles),
            "iss": settings.jwt_issuer,
            "aud": settings.jwt_audience,
            "iat": now,
            "exp": now + 900,
        }
        return ApiClient(self.stack.base_url, jwt.encode(claims, settings.jwt_secret, "HS256"))

    def email(self, recipient: str, **fields: Any) -> dict:
        return {"kind": "email", "recipients": [recipient], "subject": "{name} is ready", **fields}

    def s3(self, **fields: Any) -> dict:
        return {
            "kind": "s3",
            "bucket": self.bucket,
            "prefix": "exports",
            "endpointUrl": self.stack.settings.s3_endpoint_url,
            "region": self.stack.settings.aws_region,
            "keyTemplate": "{definitionName}/{scheduledDate}/{fileName}",
            **self.s3_keys,
            **fields,
        }

    def sftp_target(self, server: SftpServer | None = None, **fields: Any) -> dict:
        server = server or self.sftp
        return {
            "kind": "sftp",
            "host": "127.0.0.1",
            "port": server.port,
            "username": "acme",
            "password": SFTP_PASSWORD,
            "hostKeySha256": server.host_key_sha256,
            "path": "/outbox",
            **fields,
        }

    def objects(self, prefix: str) -> dict[str, bytes]:
        """The customer's bucket under `prefix` (each test writes under one of its own):
        each key and its bytes."""
        client = s3_client(self.stack.settings)
        listed = client.list_objects_v2(Bucket=self.bucket, Prefix=prefix).get("Contents", [])
        return {
            item["Key"]: client.get_object(Bucket=self.bucket, Key=item["Key"])["Body"].read()
            for item in listed
        }

    def assert_nothing_shows_a_secret(self, *answers: Any) -> None:
        """No secret in these answers, in any line the processes logged, or in the page."""
        with urllib.request.urlopen(f"{self.stack.base_url}/", timeout=10) as response:
            page = response.read().decode()
        logs = self.stack.logs()
        for secret in self.secrets:
            for answer in answers:
                assert secret not in repr(answer)
            assert secret not in logs
            assert secret not in page


@contextlib.contextmanager
def customer_bucket(settings) -> Iterator[str]:
    """A customer-* bucket (the one the customer's keys may write), emptied and dropped."""
    client = s3_client(settings)
    bucket = f"customer-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    try:
        yield bucket
    finally:
        for item in client.list_objects_v2(Bucket=bucket).get("Contents", []):
            client.delete_object(Bucket=bucket, Key=item["Key"])
        client.delete_bucket(Bucket=bucket)


def customer_keys(settings) -> dict[str, str]:
    """The keys of the local store's customer identity, which may use customer-* buckets
    only; an S3 endpoint of TEST_S3_ENDPOINT_URL has none, so Reportbox's own keys stand in."""
    if os.environ.get("TEST_S3_ENDPOINT_URL"):
        return {
            "accessKeyId": settings.aws_access_key_id,
            "secretAccessKey": settings.aws_secret_access_key,
        }
    return {"accessKeyId": LOCAL_S3_CUSTOMER_KEY, "secretAccessKey": LOCAL_S3_CUSTOMER_SECRET}


@pytest.fixture(scope="module")
def world(settings, postgres_url, tmp_path_factory) -> Iterator[World]:
    sftp_root = tmp_path_factory.mktemp("sftp")
    (sftp_root / "outbox").mkdir()
    mailbox = Mailbox()
    mailbox.start()
    try:
        with (
            sftp_server(sftp_root, "acme", password=SFTP_PASSWORD) as sftp,
            customer_bucket(settings) as bucket,
            running_stack(
                settings,
                postgres_url,
                tmp_path_factory.mktemp("logs"),
                f"reportbox_e2e_deliveries_{RUN_ID}",
                smtp_url=mailbox.url,
                email_allowed_domains=ALLOWED_DOMAIN,
                email_attachment_max_bytes=ATTACHMENT_CAP,
                delivery_retry_schedule="1",
                delivery_max_attempts=10,
                delivery_secrets_key=Fernet.generate_key().decode(),
                # Longer than any hold a test puts on the SMTP server's DATA.
                smtp_timeout_seconds=15,
                # The relay's scheduler sleeps a tick before it sees SIGTERM: a short one lets
                # the stack stop in a second rather than ten.
                schedule_tick_seconds=1,
            ) as stack,
        ):
            keys = customer_keys(settings)
            yield World(
                stack,
                mailbox,
                sftp,
                sftp_root,
                bucket,
                keys,
                (SFTP_PASSWORD, keys["secretAccessKey"], stack.settings.delivery_secrets_key),
            )
    finally:
        mailbox.stop()


def save(client: ApiClient, deliveries: list[dict], **fields: Any) -> Answer:
    return client.request(
        "POST",
        "/api/v1/report-definitions",
        {
            "name": f"deliveries {uuid.uuid4().hex[:8]}",
            "reportType": "sessions",
            "format": "csv",
            "parameters": SMALL,
            "deliveries": [{"kind": "api", "mode": "async"}, *deliveries],
            **fields,
        },
    )


def run(client: ApiClient, definition_id: str) -> dict:
    """Generate a run of the definition now; the report once Completed."""
    accepted = client.request("POST", f"/api/v1/reports/{definition_id}/generate")
    assert accepted.status == 202, accepted.body
    report = client.wait_until_terminal(accepted.body["reportId"])
    assert report["status"] == "Completed", report
    return report


def settled(client: ApiClient, report_id: str, timeout: float = 20) -> list[dict]:
    """The report's deliveries once none is Pending (every target waited on at once)."""

    def done() -> list[dict] | None:
        deliveries = client.report(report_id).body["deliveries"]
        return deliveries if all(d["status"] in TERMINAL for d in deliveries) else None

    done.__doc__ = f"every delivery of {report_id} settled"
    return eventually(done, timeout)


def by_kind(deliveries: list[dict]) -> dict[str, dict]:
    return {delivery["kind"]: delivery for delivery in deliveries}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_every_target_gets_the_same_bytes_and_an_unchanged_file_is_skipped(world):
    admin = world.client()
    recipient = f"all-{uuid.uuid4().hex[:8]}@{ALLOWED_DOMAIN}"
    saved = save(
        admin,
        [world.email(recipient), world.s3(), world.sftp_target()],
        sendWhen="changed",
    )
    assert saved.status == 201, saved.body
    assert saved.body["deliveries"][2]["secretAccessKey"] == MASK
    assert saved.body["deliveries"][3]["password"] == MASK
    name = saved.body["name"]

    report = run(admin, saved.body["definitionId"])
    deliveries = settled(admin, report["reportId"])
    assert [(d["kind"], d["status"], d["attempts"]) for d in deliveries] == [
        ("email", "Delivered", 1),
        ("s3", "Delivered", 1),
        ("sftp", "Delivered", 1),
    ], deliveries
    file = report["file"]
    (mail,) = world.mailbox.to(recipient)
    assert mail.message["Subject"] == f"{name} is ready"
    attachment = next(mail.message.iter_attachments())
    assert attachment.get_filename() == file["name"]
    # The bytes as sent, line endings and all.
    assert sha256(attachment.get_payload(decode=True)) == file["sha256"]
    # The key template expanded: the run's day in the definition's zone (UTC here).
    day = report["completedAt"][:10]
    objects = world.objects("exports/")
    assert list(objects) == [f"exports/{name}/{day}/{file['name']}"]
    assert sha256(next(iter(objects.values()))) == file["sha256"]
    assert sha256((world.sftp_root / "outbox" / file["name"]).read_bytes()) == file["sha256"]
    assert not list((world.sftp_root / "outbox").glob("*.part"))

    # The same file again: nothing is sent, and each target says why.
    again = run(admin, saved.body["definitionId"])
    assert again["file"]["sha256"] == file["sha256"]
    skipped = settled(admin, again["reportId"])
    assert {(d["status"], d["attempts"]) for d in skipped} == {("Skipped", 0)}
    assert all("sendWhen changed" in d["lastError"] for d in skipped), skipped
    assert len(world.mailbox.to(recipient)) == 1
    world.assert_nothing_shows_a_secret(
        saved.body,
        admin.request("GET", f"/api/v1/report-definitions/{saved.body['definitionId']}").body,
        admin.request("GET", "/api/v1/report-definitions").body,
        admin.request("GET", "/api/v1/reports").body,
        report,
        again,
    )


def test_a_run_without_rows_is_skipped_and_no_other_org_sees_its_deliveries(world):
    analyst = world.client(roles=("analyst",))
    recipient = f"rows-{uuid.uuid4().hex[:8]}@{ALLOWED_DOMAIN}"
    saved = save(analyst, [world.email(recipient)], sendWhen="hasRows", parameters=EMPTY)
    assert saved.status == 201, saved.body

    report = run(analyst, saved.body["definitionId"])
    assert report["file"]["rows"] == 0
    (delivery,) = settled(analyst, report["reportId"])
    assert (delivery["status"], delivery["attempts"]) == ("Skipped", 0)
    assert "no rows" in delivery["lastError"] and "sendWhen hasRows" in delivery["lastError"]
    assert world.mailbox.to(recipient) == []

    # Another org's admin: neither the definition, the report, its delivery nor a retry.
    other = world.client(org="globex", roles=("admin",))
    definition_url = f"/api/v1/report-definitions/{saved.body['definitionId']}"
    assert other.request("GET", definition_url).status == 404
    report_url = f"/api/v1/reports/{report['reportId']}"
    assert other.request("GET", report_url).status == 404
    retry = other.request("POST", f"{report_url}/deliveries/{delivery['deliveryId']}/retry")
    assert retry.status == 404
    assert retry.headers["Content-Type"].startswith("application/problem+json")
    listed = other.request("GET", "/api/v1/reports").body
    assert report["reportId"] not in repr(listed)
    assert analyst.report(report["reportId"]).body["deliveries"] == [delivery]  # untouched


def test_only_an_admin_adds_s3_sftp_or_mail_outside_the_allowed_domains(world):
    analyst = world.client(roles=("analyst",))
    refused = {
        "s3": save(analyst, [world.s3()]),
        "sftp": save(analyst, [world.sftp_target()]),
        "email": save(analyst, [world.email("someone@elsewhere.org")]),
    }
    for kind, answer in refused.items():
        assert answer.status == 403, (kind, answer.body)
        assert answer.headers["Content-Type"].startswith("application/problem+json")
    own = save(analyst, [world.email(f"ops@{ALLOWED_DOMAIN}")])
    assert own.status == 201, own.body
    # Nor by changing a definition of their own.
    url = f"/api/v1/report-definitions/{own.body['definitionId']}"
    changed = analyst.request("PATCH", url, {"deliveries": [*own.body["deliveries"], world.s3()]})
    assert changed.status == 403, changed.body
    assert analyst.request("GET", url).body["deliveries"] == own.body["deliveries"]
    world.assert_nothing_shows_a_secret(*(answer.body for answer in refused.values()))


def test_keys_that_cannot_write_the_bucket_are_refused_at_save(world):
    if os.environ.get("TEST_S3_ENDPOINT_URL"):
        pytest.skip("the S3 endpoint of TEST_S3_ENDPOINT_URL has no customer identity")
    admin = world.client()
    before = admin.request("GET", "/api/v1/report-definitions").body
    # The customer's keys may write customer-* buckets only; Reportbox's own is not theirs.
    refused = save(admin, [world.s3(bucket=world.stack.settings.s3_bucket)])
    assert refused.status == 422, refused.body
    assert refused.headers["Content-Type"].startswith("application/problem+json")
    (message,) = refused.body["errors"]["deliveries.1.accessKeyId"]
    assert "cannot write to the bucket" in message and "AccessDenied" in message
    assert admin.request("GET", "/api/v1/report-definitions").body == before  # nothing saved
    world.assert_nothing_shows_a_secret(refused.body)


def test_a_wrong_host_key_fails_sftp_alone_and_its_retry_sends_it_alone(world, tmp_path):
    """Also: a file over the attachment cap is mailed as a link to the report's page."""
    admin = world.client()
    recipient = f"large-{uuid.uuid4().hex[:8]}@{ALLOWED_DOMAIN}"
    (tmp_path / "outbox").mkdir()
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    with sftp_server(tmp_path, "acme", password=SFTP_PASSWORD, host_key=host_key) as replaced:
        saved = save(
            admin,
            [world.email(recipient), world.s3(prefix="large"), world.sftp_target(replaced)],
            parameters=LARGE,
        )
        assert saved.status == 201, saved.body
        # Saved while the server offered the key the target names (and proved a login); then
        # another key answers on its address.
        logins = len(replaced.logins)
        replaced.use_host_key(asyncssh.generate_private_key("ssh-ed25519"))

        report = run(admin, saved.body["definitionId"])
        assert report["file"]["sizeBytes"] > ATTACHMENT_CAP, report["file"]
        deliveries = by_kind(settled(admin, report["reportId"]))
        assert [(d["status"], d["attempts"]) for d in deliveries.values()] == [
            ("Delivered", 1),
            ("Delivered", 1),
            ("Failed", 1),
        ], deliveries
        error = deliveries["sftp"]["lastError"]
        assert "host key" in error and replaced.host_key_sha256 in error, error
        assert replaced.logins[logins:] == []  # the password never went to the impostor
        assert list((tmp_path / "outbox").iterdir()) == []

        (mail,) = world.mailbox.to(recipient)
        assert list(mail.message.iter_attachments()) == []
        link = f"{world.stack.base_url}/?id={report['reportId']}"
        assert link in mail.message.get_body(("plain",)).get_content()
        assert f'href="{link}"' in mail.message.get_body(("html",)).get_content()
        with urllib.request.urlopen(link, timeout=10) as page:  # the web page, showing it
            assert page.headers.get_content_type() == "text/html"
        (key,) = world.objects("large/")
        assert key.endswith(f"/{report['file']['name']}")

        # The host is put right; a retry of the one target sends it and nothing else.
        s3_client(world.stack.settings).delete_object(Bucket=world.bucket, Key=key)
        replaced.use_host_key(host_key)
        delivery_id = deliveries["sftp"]["deliveryId"]
        retried = admin.request(
            "POST", f"/api/v1/reports/{report['reportId']}/deliveries/{delivery_id}/retry"
        )
        assert retried.status == 202, retried.body
        assert [d["status"] for d in retried.body["deliveries"]] == [
            "Delivered",
            "Delivered",
            "Pending",
        ]
        after = by_kind(settled(admin, report["reportId"]))
        assert [(d["status"], d["attempts"]) for d in after.values()] == [
            ("Delivered", 1),
            ("Delivered", 1),
            ("Delivered", 2),
        ], after
        assert after["sftp"]["lastError"] is None
        uploaded = (tmp_path / "outbox" / report["file"]["name"]).read_bytes()
        assert sha256(uploaded) == report["file"]["sha256"]
        assert len(world.mailbox.to(recipient)) == 1
        assert world.objects("large/") == {}
        world.assert_nothing_shows_a_secret(saved.body, retried.body, after)


def test_a_mail_server_down_for_a_while_is_retried_and_mails_once(world):
    admin = world.client()
    recipient = f"outage-{uuid.uuid4().hex[:8]}@{ALLOWED_DOMAIN}"
    saved = save(admin, [world.email(recipient)])
    assert saved.status == 201, saved.body
    world.mailbox.stop()
    try:
        report = run(admin, saved.body["definitionId"])

        def retried_while_down() -> dict | None:
            """a third attempt began: the first two failed on a refused connection"""
            (delivery,) = admin.report(report["reportId"]).body["deliveries"]
            return delivery if delivery["attempts"] >= 3 else None

        waiting = eventually(retried_while_down, timeout=20)
        assert waiting["status"] == "Pending", waiting
        assert "could not be reached" in waiting["lastError"], waiting
    finally:
        world.mailbox.start()
    (delivery,) = settled(admin, report["reportId"])
    assert delivery["status"] == "Delivered", delivery
    assert delivery["attempts"] >= 3
    (mail,) = world.mailbox.to(recipient)
    assert (
        sha256(next(mail.message.iter_attachments()).get_payload(decode=True))
        == (report["file"]["sha256"])
    )


def test_a_retry_asked_while_the_target_is_being_sent_sends_it_again_after(world):
    """The attempt in flight finishes, then the retry asked meanwhile is made: never lost."""
    admin = world.client()
    recipient = f"inflight-{uuid.uuid4().hex[:8]}@{ALLOWED_DOMAIN}"
    saved = save(admin, [world.email(recipient)])
    assert saved.status == 201, saved.body
    entered, release = threading.Event(), threading.Event()

    def hold() -> None:
        """The first message waits at DATA until the test lets it through."""
        if not entered.is_set():
            entered.set()
            release.wait(10)

    world.mailbox.server.refuse_data = hold
    try:
        report = run(admin, saved.body["definitionId"])
        assert entered.wait(10), "the e-mail never reached DATA"
        (delivery,) = admin.report(report["reportId"]).body["deliveries"]
        assert (delivery["status"], delivery["attempts"]) == ("Pending", 1)
        url = f"/api/v1/reports/{report['reportId']}/deliveries/{delivery['deliveryId']}/retry"
        assert admin.request("POST", url).status == 202
    finally:
        release.set()
        world.mailbox.server.refuse_data = lambda: None
    (delivery,) = settled(admin, report["reportId"])
    assert (delivery["status"], delivery["attempts"]) == ("Delivered", 2), delivery
    assert len(world.mailbox.to(recipient)) == 2

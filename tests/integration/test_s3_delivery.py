"""The s3 delivery kind against the session's SeaweedFS, a second bucket as the customer's."""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest

from shared.deliveries import s3_kind
from shared.deliveries.targets import (
    DeliveredFile,
    InvalidTarget,
    PermanentDeliveryFailure,
    TransientDeliveryFailure,
)
from shared.storage import Storage
from tests import services
from tests.faultproxy import fault_proxy
from tests.services import LOCAL_S3_CUSTOMER_KEY, LOCAL_S3_CUSTOMER_SECRET, s3_client


@pytest.fixture(scope="module")
def storage(settings) -> Storage:
    storage = Storage(settings)
    storage.ensure_bucket()
    return storage


@pytest.fixture
def customer_bucket(settings):
    """A bucket of its own for the test, emptied and deleted afterwards."""
    with services.customer_bucket(settings) as bucket:
        yield bucket


@pytest.fixture
def customer_keys() -> dict:
    """The keys of the local store's customer identity: it may use customer-* buckets only."""
    if os.environ.get("TEST_S3_ENDPOINT_URL"):
        pytest.skip("the S3 endpoint of TEST_S3_ENDPOINT_URL has no customer identity")
    return {"accessKeyId": LOCAL_S3_CUSTOMER_KEY, "secretAccessKey": LOCAL_S3_CUSTOMER_SECRET}


def target_for(settings, bucket: str, **overrides) -> dict:
    return {
        "kind": "s3",
        "bucket": bucket,
        "prefix": "exports",
        "endpointUrl": settings.s3_endpoint_url,
        "region": settings.aws_region,
        "accessKeyId": settings.aws_access_key_id,
        "secretAccessKey": settings.aws_secret_access_key,
        **overrides,
    }


def stored_file(settings, storage: Storage, data: bytes, opened: list | None = None):
    """A report's file in our own bucket, as the dispatcher hands it to a kind; each time it
    is opened (streamed rather than copied server-side) is counted in `opened`."""
    key = f"reports/acme/{uuid.uuid4()}/1.csv"
    client = s3_client(settings)
    client.put_object(Bucket=storage.bucket, Key=key, Body=data, ContentType="text/csv")

    @contextlib.contextmanager
    def open_file():
        if opened is not None:
            opened.append(key)
        body = client.get_object(Bucket=storage.bucket, Key=key)["Body"]
        try:
            yield body
        finally:
            body.close()

    return DeliveredFile(
        report_id=str(uuid.uuid4()),
        definition_id=str(uuid.uuid4()),
        definition_name="Weekly sales",
        file_name="sessions-2026-12-05.csv",
        content_type="text/csv; charset=utf-8",
        size_bytes=len(data),
        rows=2,
        sha256=hashlib.sha256(data).hexdigest(),
        scheduled_date="2026-12-05",
        period=None,
        report_url="http://reportbox.test/reports/x",
        object_key=key,
        bucket=storage.bucket,
        completed_at=datetime(2026, 12, 5, tzinfo=UTC),
        open=open_file,
    )


def streaming_kind() -> s3_kind.S3Kind:
    """The kind as it treats any store but ours: every file streamed (http for the test)."""
    return s3_kind.S3Kind(allow_http=True)


@pytest.mark.parametrize("keys", ["ours", "customer's"])
def test_prove_writes_and_removes_a_check_object(settings, customer_bucket, keys, request):
    credentials = request.getfixturevalue("customer_keys") if keys == "customer's" else {}

    s3_kind.for_settings(settings).prove(target_for(settings, customer_bucket, **credentials))

    assert s3_client(settings).list_objects_v2(Bucket=customer_bucket).get("KeyCount", 0) == 0


def test_prove_names_the_bucket_when_it_does_not_exist(settings):
    target = target_for(settings, f"missing-{uuid.uuid4().hex[:12]}")

    with pytest.raises(InvalidTarget) as refused:
        s3_kind.for_settings(settings).prove(target)

    assert refused.value.field == "bucket"


def test_prove_names_the_access_key_when_the_store_does_not_know_it(settings, customer_bucket):
    target = target_for(settings, customer_bucket, accessKeyId="no-such-key")

    with pytest.raises(InvalidTarget) as refused:
        s3_kind.for_settings(settings).prove(target)

    assert refused.value.field == "accessKeyId"
    assert settings.aws_secret_access_key not in refused.value.message


def test_prove_names_the_secret_when_the_signature_does_not_match(settings, customer_bucket):
    target = target_for(settings, customer_bucket, secretAccessKey="not-the-secret")

    with pytest.raises(InvalidTarget) as refused:
        s3_kind.for_settings(settings).prove(target)

    assert refused.value.field == "secretAccessKey"


def test_prove_names_the_endpoint_when_nothing_answers_there(settings, customer_bucket):
    with fault_proxy("127.0.0.1", 9) as proxy:
        proxy.cut()
        target = target_for(settings, customer_bucket, endpointUrl=f"http://127.0.0.1:{proxy.port}")
        with pytest.raises(InvalidTarget) as refused:
            streaming_kind().prove(target)

    assert refused.value.field == "endpointUrl"


KEY = "exports/Weekly sales/2026-12-05/sessions-2026-12-05.csv"


def stored_in(settings, bucket: str, key: str = KEY) -> dict:
    return s3_client(settings).get_object(Bucket=bucket, Key=key)


def test_a_file_for_our_own_store_is_copied_there_server_side(settings, storage, customer_bucket):
    data = b"day,sessions\n2026-12-05,42\n" * 1000
    opened: list[str] = []
    delivered = stored_file(settings, storage, data, opened)

    s3_kind.for_settings(settings).send(target_for(settings, customer_bucket), delivered)

    stored = stored_in(settings, customer_bucket)
    assert stored["Body"].read() == data
    assert stored["ContentType"] == "text/csv; charset=utf-8"
    assert stored["Metadata"] == {"sha256": delivered.sha256}
    assert opened == []  # never streamed through the dispatcher


def test_keys_that_cannot_read_our_bucket_have_the_file_streamed_instead(
    settings, storage, customer_bucket, customer_keys
):
    data = b"day,sessions\n2026-12-05,42\n" * 1000
    opened: list[str] = []
    delivered = stored_file(settings, storage, data, opened)

    s3_kind.for_settings(settings).send(
        target_for(settings, customer_bucket, **customer_keys), delivered
    )

    stored = stored_in(settings, customer_bucket)
    assert stored["Body"].read() == data
    assert stored["ContentType"] == "text/csv; charset=utf-8"
    assert stored["Metadata"] == {"sha256": delivered.sha256}
    assert opened == [delivered.object_key]


def test_a_file_for_another_store_is_streamed_under_the_key_template(
    settings, storage, customer_bucket
):
    data = b"day,sessions\n2026-12-05,42\n" * 1000
    opened: list[str] = []
    delivered = stored_file(settings, storage, data, opened)
    target = target_for(
        settings, customer_bucket, keyTemplate="{scheduledDate}/{definitionName}-{fileName}"
    )

    streaming_kind().send(target, delivered)

    stored = stored_in(
        settings, customer_bucket, "exports/2026-12-05/Weekly sales-sessions-2026-12-05.csv"
    )
    assert stored["Body"].read() == data
    assert stored["ContentType"] == "text/csv; charset=utf-8"
    assert stored["Metadata"] == {"sha256": delivered.sha256}
    assert opened == [delivered.object_key]


def test_send_uses_the_default_key_template(settings, storage, customer_bucket):
    delivered = stored_file(settings, storage, b"a,b\n1,2\n")

    streaming_kind().send(target_for(settings, customer_bucket, prefix=""), delivered)

    keys = [
        item["Key"]
        for item in s3_client(settings).list_objects_v2(Bucket=customer_bucket)["Contents"]
    ]
    assert keys == ["Weekly sales/2026-12-05/sessions-2026-12-05.csv"]


def test_a_copy_above_the_single_request_limit_is_copied_in_parts(
    settings, storage, customer_bucket
):
    # The 5 GiB limit scaled down: 12 MiB in parts of 5 MiB (S3's smallest).
    kind = replace(
        s3_kind.for_settings(settings),
        copy_limit_bytes=6 * s3_kind.MiB,
        copy_part_bytes=5 * s3_kind.MiB,
    )
    data = os.urandom(12 * s3_kind.MiB)
    delivered = stored_file(settings, storage, data)

    kind.send(target_for(settings, customer_bucket), delivered)

    stored = stored_in(settings, customer_bucket)
    assert stored["ETag"].strip('"').endswith("-3")
    assert hashlib.sha256(stored["Body"].read()).hexdigest() == delivered.sha256
    assert stored["Metadata"] == {"sha256": delivered.sha256}


def test_a_large_file_is_streamed_in_parts(settings, storage, customer_bucket):
    data = os.urandom(20 * s3_kind.MiB)  # three parts of 8 MiB
    delivered = stored_file(settings, storage, data)

    streaming_kind().send(target_for(settings, customer_bucket), delivered)

    stored = stored_in(settings, customer_bucket)
    assert stored["ETag"].strip('"').endswith("-3")  # a multipart upload's ETag names its parts
    assert hashlib.sha256(stored["Body"].read()).hexdigest() == delivered.sha256
    assert stored["Metadata"] == {"sha256": delivered.sha256}


@pytest.mark.parametrize("kind_for", ["own store", "another store"])
def test_a_bucket_deleted_after_save_fails_permanently(settings, storage, customer_keys, kind_for):
    kind = s3_kind.for_settings(settings) if kind_for == "own store" else streaming_kind()
    client = s3_client(settings)
    bucket = f"customer-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    target = target_for(settings, bucket, **customer_keys)
    kind.prove(target)
    client.delete_bucket(Bucket=bucket)

    with pytest.raises(PermanentDeliveryFailure) as failed:
        kind.send(target, stored_file(settings, storage, b"a\n1\n"))

    # SeaweedFS answers a write to a missing bucket with AccessDenied, AWS with NoSuchBucket.
    assert "AccessDenied" in failed.value.message or "NoSuchBucket" in failed.value.message
    assert LOCAL_S3_CUSTOMER_SECRET not in failed.value.message


@pytest.mark.parametrize("kind_for", ["own store", "another store"])
def test_a_cut_endpoint_fails_transiently(settings, storage, customer_bucket, kind_for):
    endpoint = urlsplit(settings.s3_endpoint_url)
    delivered = stored_file(settings, storage, b"a\n1\n")
    with fault_proxy(endpoint.hostname, endpoint.port) as proxy:
        proxy_url = f"http://127.0.0.1:{proxy.port}"
        kind = (
            s3_kind.S3Kind(own_store=s3_kind.OwnStore(proxy_url))
            if kind_for == "own store"
            else streaming_kind()
        )
        target = target_for(settings, customer_bucket, endpointUrl=proxy_url)
        kind.prove(target)
        proxy.cut()

        with pytest.raises(TransientDeliveryFailure) as failed:
            kind.send(target, delivered)

    assert "could not be reached" in failed.value.message

"""Where the tests find PostgreSQL, RabbitMQ and S3.

PostgreSQL and RabbitMQ are this machine's (or the environment's, TEST_DATABASE_URL and
TEST_RABBITMQ_URL); S3 is the one in TEST_S3_ENDPOINT_URL, or else a SeaweedFS started for
the test session. Nothing is taken from a container: a service that cannot be reached fails
the run loudly.
"""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from infra.local import processes
from infra.local.processes import free_port, seaweedfs_s3_server

# The local SeaweedFS's one identity: it lives only as long as the test session.
LOCAL_S3_ACCESS_KEY = "test"
LOCAL_S3_SECRET_KEY = "test-secret"
# A second identity, standing in for a customer of the s3 delivery kind: it may read, write
# and list only buckets named customer-*, so it can neither read Reportbox's bucket nor
# create a bucket by writing to it (which the first, an admin, does).
LOCAL_S3_CUSTOMER_KEY = "customer"
LOCAL_S3_CUSTOMER_SECRET = "customer-secret"
LOCAL_S3_CUSTOMER_IDENTITY = {
    "name": "customer",
    "credentials": [{"accessKey": LOCAL_S3_CUSTOMER_KEY, "secretKey": LOCAL_S3_CUSTOMER_SECRET}],
    "actions": ["Read:customer-*", "Write:customer-*", "List:customer-*"],
}


def reachable(url: str) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname, parsed.port), timeout=2):
            return True
    except OSError:
        return False


def _missing(what: str, variable: str) -> None:
    pytest.fail(f"{what} is not reachable: start it, or set {variable}", pytrace=False)


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """A SQLAlchemy URL of a server where the tests may create databases."""
    url = os.environ.get(
        "TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    if not reachable(url):
        _missing("PostgreSQL", "TEST_DATABASE_URL")
    yield url


@contextlib.contextmanager
def rabbitmq_server() -> Iterator[str]:
    url = os.environ.get("TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
    if not reachable(url):
        _missing("RabbitMQ", "TEST_RABBITMQ_URL")
    yield url


@contextlib.contextmanager
def s3_server() -> Iterator[tuple[str, str, str]]:
    """(endpoint URL, access key, secret key) of an S3 endpoint."""
    endpoint = os.environ.get("TEST_S3_ENDPOINT_URL")
    if endpoint:
        yield (
            endpoint,
            os.environ.get("AWS_ACCESS_KEY_ID", "test"),
            os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
        )
    else:
        with local_s3_server() as endpoint:
            yield endpoint, LOCAL_S3_ACCESS_KEY, LOCAL_S3_SECRET_KEY


@contextlib.contextmanager
def local_s3_server(data_dir: Path | None = None, stop_timeout: float = 0.0) -> Iterator[str]:
    """SeaweedFS on free ports, its data and log in a folder of its own (a temporary one,
    deleted afterwards, unless `data_dir` is given). A temporary folder's data goes with the
    server, so by default it is not waited for to close its files (see seaweedfs_s3_server)."""
    with contextlib.ExitStack() as stack:
        if data_dir is None:
            data_dir = Path(
                stack.enter_context(tempfile.TemporaryDirectory(prefix="reportbox-s3-"))
            )
        yield stack.enter_context(
            seaweedfs_s3_server(
                free_port(),
                data_dir / "data",
                data_dir,
                LOCAL_S3_ACCESS_KEY,
                LOCAL_S3_SECRET_KEY,
                stop_timeout=stop_timeout,
                other_identities=[LOCAL_S3_CUSTOMER_IDENTITY],
            )
        )


def s3_client(settings):
    """A plain boto3 S3 client for assertions: what is stored, which parts were uploaded."""
    return processes.s3_client(
        settings.s3_endpoint_url,
        settings.aws_access_key_id,
        settings.aws_secret_access_key,
        settings.aws_region,
    )


@contextlib.contextmanager
def customer_bucket(settings) -> Iterator[str]:
    """A bucket the local store's customer identity may use (customer-*), emptied and
    deleted afterwards."""
    client = s3_client(settings)
    bucket = f"customer-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    try:
        yield bucket
    finally:
        with contextlib.suppress(client.exceptions.NoSuchBucket):
            for item in client.list_objects_v2(Bucket=bucket).get("Contents", []):
                client.delete_object(Bucket=bucket, Key=item["Key"])
            client.delete_bucket(Bucket=bucket)


def objects_of(storage, report_id) -> list[str]:
    """The keys of every object any attempt of the report stored."""
    return [key for key in storage.object_keys() if str(report_id) in key]

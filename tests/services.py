"""Where the tests find PostgreSQL, RabbitMQ and S3.

From the environment (or this machine's defaults) when reachable; otherwise from
testcontainers when a Docker engine answers; otherwise the run fails loudly.
"""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from infra.local.processes import free_port, moto_s3_server

POSTGRES_IMAGE = "postgres:17.6"
RABBITMQ_IMAGE = "rabbitmq:4.1.4-management"
MINIO_IMAGE = "minio/minio:RELEASE.2025-09-07T16-13-09Z"


def reachable(url: str) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname, parsed.port), timeout=2):
            return True
    except OSError:
        return False


def docker_available() -> bool:
    if not os.environ.get("DOCKER_HOST") and not os.path.exists("/var/run/docker.sock"):
        return False
    import docker

    try:
        client = docker.from_env(timeout=3)
    except Exception:
        return False
    try:
        return bool(client.ping())
    except Exception:
        return False
    finally:
        client.close()


def _missing(what: str, variable: str) -> None:
    pytest.fail(
        f"{what} is not reachable: set {variable}, start it, or run a Docker engine "
        "for testcontainers",
        pytrace=False,
    )


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """A SQLAlchemy URL of a server where the tests may create databases."""
    url = os.environ.get(
        "TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    if reachable(url):
        yield url
    elif docker_available():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer(POSTGRES_IMAGE, driver="psycopg") as container:
            yield container.get_connection_url()
    else:
        _missing("PostgreSQL", "TEST_DATABASE_URL")


@contextlib.contextmanager
def rabbitmq_server() -> Iterator[str]:
    url = os.environ.get("TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
    if reachable(url):
        yield url
    elif docker_available():
        from testcontainers.rabbitmq import RabbitMqContainer

        with RabbitMqContainer(RABBITMQ_IMAGE) as container:
            host, port = container.get_container_host_ip(), container.get_exposed_port(5672)
            yield f"amqp://guest:guest@{host}:{port}/%2F"
    else:
        _missing("RabbitMQ", "TEST_RABBITMQ_URL")


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
    elif docker_available():
        from testcontainers.minio import MinioContainer

        with MinioContainer(MINIO_IMAGE) as container:
            config = container.get_config()
            yield f"http://{config['endpoint']}", config["access_key"], config["secret_key"]
    else:
        with moto_server() as endpoint:
            yield endpoint, "test", "test"


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    with (
        tempfile.TemporaryDirectory(prefix="reportbox-s3-") as log_dir,
        moto_s3_server(free_port(), Path(log_dir)) as endpoint,
    ):
        yield endpoint


def s3_client(settings):
    """A plain boto3 S3 client for assertions: what is stored, which parts were uploaded."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint_url,
        aws_access_key_id=settings.aws_access_key_id,
        aws_secret_access_key=settings.aws_secret_access_key,
        region_name=settings.aws_region,
    )


def objects_of(storage, report_id) -> list[str]:
    """The keys of every object any attempt of the report stored."""
    return [key for key in storage.object_keys() if str(report_id) in key]

"""What every measurement shares: settings, a filled database, broker names, an S3 bucket.

Everything here is created for one run and removed by the context managers that made it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import jwt
import pika
import psycopg
from cryptography.fernet import Fernet
from sqlalchemy import make_url

from shared import demo
from shared.broker import declare_topology
from shared.config import Settings
from shared.db import libpq_url
from shared.storage import Storage
from tests.conftest import delete_broker_topology, migrate
from tests.services import (
    LOCAL_S3_ACCESS_KEY,
    LOCAL_S3_SECRET_KEY,
    local_s3_server,
    postgres_server,
    rabbitmq_server,
)

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]  # the repository
ORG = "bench"
SESSIONS = 100_000 if os.environ.get("BENCH_QUICK") == "1" else 1_000_000
ALBUMS = 400
RUN_ID = uuid.uuid4().hex[:10]


@contextlib.contextmanager
def bench_database(server_url: str) -> Iterator[str]:
    """A database of its own, migrated and filled with a million sessions; dropped afterwards."""
    name = f"reportbox_bench_{RUN_ID}"
    admin = libpq_url(server_url)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    try:
        migrate(url)
        started = time.perf_counter()
        demo.fill(url, [ORG], SESSIONS, users=None, albums=ALBUMS)
        log.info("filled %d sessions in %.1f s", SESSIONS, time.perf_counter() - started)
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def bench_settings() -> Iterator[Settings]:
    """Settings naming this run's database, exchange, queues and bucket; all removed after."""
    with (
        postgres_server() as server_url,
        rabbitmq_server() as rabbitmq_url,
        local_s3_server() as s3_endpoint,
        bench_database(server_url) as database_url,
    ):
        settings = Settings(
            database_url=database_url,
            source_database_url=database_url,
            rabbitmq_url=rabbitmq_url,
            exchange=f"bench-{RUN_ID}",
            work_queue=f"bench-{RUN_ID}.reports",
            s3_endpoint_url=s3_endpoint,
            s3_public_endpoint_url=s3_endpoint,
            s3_bucket=f"bench-{RUN_ID}",
            aws_access_key_id=LOCAL_S3_ACCESS_KEY,
            aws_secret_access_key=LOCAL_S3_SECRET_KEY,
            jwt_secret=secrets.token_hex(32),
            delivery_secrets_key=Fernet.generate_key().decode(),
            public_base_url="http://reportbox.bench",
            log_level="WARNING",
        )
        # The bucket lives in the server's temporary folder and goes away with it.
        Storage(settings).ensure_bucket()
        # Declared here, once, so every step may purge or count the queues from the start.
        connection = pika.BlockingConnection(pika.URLParameters(settings.rabbitmq_url))
        try:
            declare_topology(connection.channel(), settings)
        finally:
            connection.close()
        try:
            yield settings
        finally:
            delete_broker_topology(settings)


def make_token(
    settings: Settings, roles: tuple[str, ...] = ("analyst",), sub: str | None = None
) -> str:
    now = int(time.time())
    claims = {
        "sub": sub or f"bench-{uuid.uuid4().hex[:8]}",
        "org": ORG,
        "roles": list(roles),
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + 3600,
    }
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")


@contextlib.contextmanager
def broker_channel(
    settings: Settings,
) -> Iterator[pika.adapters.blocking_connection.BlockingChannel]:
    connection = pika.BlockingConnection(pika.URLParameters(settings.rabbitmq_url))
    try:
        yield connection.channel()
    finally:
        connection.close()


def queue_depth(settings: Settings) -> int:
    with broker_channel(settings) as channel:
        return channel.queue_declare(settings.work_queue, passive=True).method.message_count


def purge_work_queue(settings: Settings) -> None:
    with broker_channel(settings) as channel:
        channel.queue_purge(settings.work_queue)


def execute(settings: Settings, sql: str) -> None:
    with psycopg.connect(libpq_url(settings.database_url), autocommit=True) as connection:
        connection.execute(sql)


def clear_reports(settings: Settings) -> None:
    """Empty reports and outbox; CASCADE empties what references reports (deliveries)."""
    execute(settings, "TRUNCATE reports, outbox CASCADE")

"""Session-wide services: a fresh database, unique broker names, an S3 bucket."""

from __future__ import annotations

import contextlib
import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import jwt
import pika
import psycopg
import pytest
from alembic import command
from alembic.config import Config
from cryptography.fernet import Fernet
from sqlalchemy import make_url
from sqlalchemy.orm import Session, sessionmaker

from shared import demo
from shared.config import Settings
from shared.db import libpq_url, make_engine, make_session_factory
from shared.storage import Storage
from tests.services import postgres_server, rabbitmq_server, s3_server

ROOT = Path(__file__).resolve().parents[1]
RUN_ID = uuid.uuid4().hex[:10]
JWT_SECRET = secrets.token_hex(32)
SECRETS_KEY = Fernet.generate_key().decode()  # seals webhook and delivery secrets at rest
DEMO_ORGS = ["acme", "globex"]
DEMO_SESSIONS = 5000  # per org


def migrate(database_url: str) -> None:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", database_url)
    config.attributes["configure_logging"] = False
    command.upgrade(config, "head")


@contextlib.contextmanager
def fresh_database(server_url: str, name: str) -> Iterator[str]:
    """A database of its own, migrated and filled with demo data; dropped afterwards."""
    admin = libpq_url(server_url)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    try:
        migrate(url)
        demo.fill(url, DEMO_ORGS, DEMO_SESSIONS, users=None, albums=50)
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture(scope="session")
def database_url(postgres_url: str) -> Iterator[str]:
    with fresh_database(postgres_url, f"reportbox_test_{RUN_ID}") as url:
        yield url


@pytest.fixture(scope="session")
def rabbitmq_url() -> Iterator[str]:
    with rabbitmq_server() as url:
        yield url


@pytest.fixture(scope="session")
def s3() -> Iterator[tuple[str, str, str]]:
    with s3_server() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def settings(database_url: str, rabbitmq_url: str, s3: tuple[str, str, str]) -> Iterator[Settings]:
    endpoint, access_key, secret_key = s3
    settings = Settings(
        database_url=database_url,
        source_database_url=database_url,
        rabbitmq_url=rabbitmq_url,
        exchange=f"test-{RUN_ID}",
        work_queue=f"test-{RUN_ID}.reports",
        s3_endpoint_url=endpoint,
        s3_public_endpoint_url=endpoint,
        s3_bucket=f"test-{RUN_ID}",
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        jwt_secret=JWT_SECRET,
        delivery_secrets_key=SECRETS_KEY,
        public_base_url="http://reportbox.test",
        lease_seconds=6,
        relay_poll_seconds=0.5,
    )
    Storage(settings).ensure_bucket()
    yield settings
    delete_broker_topology(settings)


def delete_broker_topology(settings: Settings) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(settings.rabbitmq_url))
    channel = connection.channel()
    for queue in (settings.work_queue, settings.dead_letter_queue, settings.retry_queue):
        channel.queue_delete(queue)
    for exchange in (settings.exchange, settings.dead_letter_exchange):
        channel.exchange_delete(exchange)
    connection.close()


@pytest.fixture(scope="session")
def engine(settings: Settings):
    engine = make_engine(settings)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def sessions(engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def make_token(settings: Settings) -> Callable[..., str]:
    def make(
        sub: str | None = None,
        org: str = "acme",
        roles: tuple[str, ...] = ("analyst",),
        **overrides: object,
    ) -> str:
        now = int(time.time())
        claims = {
            "sub": sub or f"user-{uuid.uuid4().hex[:8]}",
            "org": org,
            "roles": list(roles),
            "iss": settings.jwt_issuer,
            "aud": settings.jwt_audience,
            "iat": now,
            "exp": now + 600,
            **overrides,
        }
        # The secret of the settings in force: a package may override them (tests/browser).
        return jwt.encode(
            {k: v for k, v in claims.items() if v is not None},
            settings.jwt_secret,
            algorithm="HS256",
        )

    return make

"""Migration 0011 on a database of its own: webhook secrets stored in the clear before it
are sealed by it, a clear one cannot be written after it, and its downgrade opens them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from cryptography.fernet import Fernet
from sqlalchemy import make_url

from shared.db import libpq_url
from shared.secrets import unseal_text
from shared.webhooks.signing import new_secret
from tests.conftest import ROOT

KEY = Fernet.generate_key().decode()
INSERT = sa.text(
    """
    INSERT INTO webhook_endpoints (id, org, url, event_types, secret, previous_secret)
    VALUES (:id, 'acme', 'https://hooks.example.com/in', ARRAY['report.completed'],
            :secret, :previous)
    """
)
SECRETS = sa.text("SELECT id, secret, previous_secret FROM webhook_endpoints ORDER BY id")


@pytest.fixture
def bare_url(postgres_url) -> Iterator[str]:
    name = f"reportbox_sealing_{uuid.uuid4().hex[:8]}"
    admin = libpq_url(postgres_url)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def alembic(url: str, key: str | None) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", url)
    config.attributes["configure_logging"] = False
    config.attributes["secrets_key"] = key
    return config


def test_clear_secrets_are_sealed_up_and_opened_down(bare_url, monkeypatch):
    monkeypatch.delenv("DELIVERY_SECRETS_KEY", raising=False)
    command.upgrade(alembic(bare_url, None), "0010")
    clear = {uuid.uuid4(): (new_secret(), new_secret()), uuid.uuid4(): (new_secret(), None)}
    engine = sa.create_engine(bare_url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as connection:
            for endpoint_id, (secret, previous) in clear.items():
                connection.execute(
                    INSERT, {"id": endpoint_id, "secret": secret, "previous": previous}
                )

        # Without the key the migration stops, and leaves the secrets as they were.
        with pytest.raises(RuntimeError, match="DELIVERY_SECRETS_KEY"):
            command.upgrade(alembic(bare_url, None), "0011")
        with engine.connect() as connection:
            assert {
                row.id: (row.secret, row.previous_secret) for row in connection.execute(SECRETS)
            } == clear

        command.upgrade(alembic(bare_url, KEY), "0011")
        with engine.connect() as connection:
            sealed = connection.execute(SECRETS).all()
        for row in sealed:
            secret, previous = clear[row.id]
            assert "whsec_" not in row.secret and unseal_text(row.secret, KEY) == secret
            if previous is None:
                assert row.previous_secret is None
            else:
                assert unseal_text(row.previous_secret, KEY) == previous
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
            connection.execute(
                INSERT, {"id": uuid.uuid4(), "secret": new_secret(), "previous": None}
            )

        command.downgrade(alembic(bare_url, KEY), "0010")
        with engine.connect() as connection:
            assert {
                row.id: (row.secret, row.previous_secret) for row in connection.execute(SECRETS)
            } == clear
    finally:
        engine.dispose()

"""The one place that opens PostgreSQL connections and translates driver errors."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import psycopg
import sqlalchemy.exc
from sqlalchemy import Engine, create_engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from shared.config import Settings

OUTBOX_CHANNEL = "reportbox_outbox"  # NOTIFY channel; the outbox insert trigger names it too
# NOTIFY channel of report_definitions' trigger (migration 0007): a definition was written.
DEFINITIONS_CHANNEL = "reportbox_definitions"
KEEPALIVE_IDLE = 30  # seconds of silence before the first TCP keepalive probe
KEEPALIVE_INTERVAL = 10  # seconds between probes
KEEPALIVE_COUNT = 3  # unanswered probes before the connection counts as dead


class DatabaseUnavailable(RuntimeError):
    """PostgreSQL could not be reached or dropped the connection."""


def make_engine(
    settings: Settings,
    *,
    url: str | None = None,
    statement_timeout_ms: int | None = None,
    pool_size: int = 5,
) -> Engine:
    return create_engine(
        url or settings.database_url,
        pool_size=pool_size,
        pool_pre_ping=True,
        connect_args=connect_arguments(settings, statement_timeout_ms),
    )


def connect_arguments(settings: Settings, statement_timeout_ms: int | None) -> dict[str, Any]:
    """What every connection gets: timeouts on the server's side and TCP keepalives.

    A transaction left idle (a process stuck between two statements) is ended after
    db_idle_in_transaction_timeout_ms, so it cannot hold row locks forever; keepalives let a
    connection whose peer vanished without a FIN fail within about a minute, not hours.
    """
    # Timestamps leave the database in UTC, whatever the server's own time zone.
    options = [
        "-c timezone=UTC",
        f"-c idle_in_transaction_session_timeout={settings.db_idle_in_transaction_timeout_ms}",
    ]
    if statement_timeout_ms is not None:
        options.append(f"-c statement_timeout={statement_timeout_ms}")
    return {
        "connect_timeout": settings.db_connect_timeout_seconds,
        "options": " ".join(options),
        "keepalives": 1,
        "keepalives_idle": KEEPALIVE_IDLE,
        "keepalives_interval": KEEPALIVE_INTERVAL,
        "keepalives_count": KEEPALIVE_COUNT,
    }


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def libpq_url(sqlalchemy_url: str) -> str:
    """The same database as a plain libpq URL, for psycopg.connect and psql."""
    return (
        make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)
    )


def connect_listener(settings: Settings, channel: str = OUTBOX_CHANNEL) -> psycopg.Connection:
    """A dedicated autocommit connection for LISTEN: it must not come from a pool."""
    try:
        connection = psycopg.connect(
            libpq_url(settings.database_url),
            autocommit=True,
            **connect_arguments(settings, settings.db_statement_timeout_ms),
        )
        connection.execute(f"LISTEN {channel}")
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(str(exc)) from exc
    return connection


def wait_for_notify(listener: psycopg.Connection, timeout: float) -> bool:
    """Sleep until a NOTIFY reaches the listener (True) or `timeout` seconds pass (False)."""
    try:
        return any(True for _ in listener.notifies(timeout=max(timeout, 0.0), stop_after=1))
    except psycopg.Error as exc:
        raise DatabaseUnavailable(str(exc)) from exc


def close_quietly(connection: psycopg.Connection | None) -> None:
    """Close a connection that may already be broken; there is nothing to say if it is."""
    if connection is None:
        return
    try:
        connection.close()
    except psycopg.Error:
        pass


@contextlib.contextmanager
def translate_errors() -> Iterator[None]:
    """Turn a lost or refused connection into DatabaseUnavailable; let other errors through."""
    try:
        yield
    except sqlalchemy.exc.OperationalError as exc:
        raise DatabaseUnavailable(str(exc.orig)) from exc
    except sqlalchemy.exc.DBAPIError as exc:
        if exc.connection_invalidated:
            raise DatabaseUnavailable(str(exc.orig)) from exc
        raise
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(str(exc)) from exc

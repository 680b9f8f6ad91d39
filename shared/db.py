"""The one place that opens PostgreSQL connections and translates driver errors.

PostgreSQL's edge: besides the COPY readers (worker/source.py and worker/formats/, which
stream rows through the driver's cursor), no module imports psycopg or catches its errors.
They become DatabaseUnavailable (try again later), QueryCancelled, UniqueViolation or
QueryFailed here, the way shared/broker and shared/storage translate pika's and boto3's.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeVar

import psycopg
import psycopg.errors
import sqlalchemy.exc
from psycopg.rows import class_row
from sqlalchemy import Engine, Executable, PoolProxiedConnection, create_engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from shared.config import Settings

OUTBOX_CHANNEL = "reportbox_outbox"  # NOTIFY channel; the outbox insert trigger names it too
# NOTIFY channel of report_definitions' trigger (migration 0007): a definition was written.
DEFINITIONS_CHANNEL = "reportbox_definitions"
KEEPALIVE_IDLE = 30  # seconds of silence before the first TCP keepalive probe
KEEPALIVE_INTERVAL = 10  # seconds between probes
KEEPALIVE_COUNT = 3  # unanswered probes before the connection counts as dead


# The driver's cursor, for the modules that stream rows with COPY and EXPLAIN through it.
Cursor = psycopg.Cursor
Connection = psycopg.Connection


class DatabaseError(RuntimeError):
    """PostgreSQL or its driver refused or lost a statement."""


class DatabaseUnavailable(DatabaseError):
    """PostgreSQL could not be reached or dropped the connection."""


class QueryCancelled(DatabaseError):
    """A statement was cancelled: by a cancel request, or by its statement timeout."""


class QueryFailed(DatabaseError):
    """PostgreSQL refused a statement (an error in it or its data); running it again won't help."""


class UniqueViolation(QueryFailed):
    """A unique index or constraint refused a row; `constraint` names it."""

    def __init__(self, constraint: str | None, message: str) -> None:
        super().__init__(message)
        self.constraint = constraint


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


def connect(database_url: str) -> Connection:
    """A connection of its own, outside any pool, for a command-line tool (shared/demo.py)."""
    try:
        return psycopg.connect(libpq_url(database_url))
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(str(exc)) from exc


# How soon a Listener.wait given a stop event notices it.
STOP_CHECK_SECONDS = 0.5


class Listener:
    """A dedicated autocommit connection LISTENing on one channel; not from a pool."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def wait(self, timeout_seconds: float, stopping: threading.Event | None = None) -> bool:
        """Return at the first NOTIFY (True), or once timeout_seconds pass without one.

        With `stopping`, also soon after it is set: a blocked wait cannot be interrupted from
        another thread, so it waits in slices and a SIGTERM never waits out a whole tick.
        """
        deadline = time.monotonic() + max(timeout_seconds, 0.0)
        try:
            while True:
                left = deadline - time.monotonic()
                if stopping is not None:
                    if stopping.is_set():
                        return False
                    left = min(left, STOP_CHECK_SECONDS)
                for _ in self._connection.notifies(timeout=max(left, 0.0), stop_after=1):
                    return True
                if time.monotonic() >= deadline:
                    return False
        except psycopg.OperationalError as exc:
            raise DatabaseUnavailable(str(exc)) from exc

    def close(self) -> None:
        with contextlib.suppress(psycopg.Error):  # a lost connection has nothing left to close
            self._connection.close()


def connect_listener(settings: Settings, channel: str = OUTBOX_CHANNEL) -> Listener:
    """A Listener on `channel` (the outbox's by default)."""
    try:
        connection = psycopg.connect(
            libpq_url(settings.database_url),
            autocommit=True,
            **connect_arguments(settings, settings.db_statement_timeout_ms),
        )
        connection.execute(f"LISTEN {channel}")
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(str(exc)) from exc
    return Listener(connection)


def seconds_until_due(engine: Engine, next_due_in: Executable, at_most: float) -> float:
    """How long a loop may sleep: until the earliest row `next_due_in` finds comes due (its
    one column `seconds`; NULL when nothing waits), never below 0, never above `at_most`."""
    with translate_errors(), engine.connect() as connection:
        row = connection.execute(next_due_in).first()
    if row is None or row.seconds is None:
        return at_most
    return min(max(float(row.seconds), 0.0), at_most)


RowClass = TypeVar("RowClass")


def first_row_in_transaction(
    engine: Engine,
    statements: Sequence[str],
    values: Mapping[str, Any],
    row_class: type[RowClass],
) -> RowClass | None:
    """Run the statements in order in one transaction; the last one's first row, built as
    row_class(**columns) (a NamedTuple whose fields are the columns, in any order).

    psycopg itself on a pooled connection, with no Core or ORM layer between: on the hottest
    path (admitting a report) that layer cost more than the statements. A lost connection is
    invalidated, so the pool never gives it out again.
    """
    with translate_errors():
        pooled = engine.raw_connection()
    try:
        connection = _driver(pooled)
        cursor = connection.cursor(row_factory=class_row(row_class))
        with connection.transaction():
            for statement in statements:
                cursor.execute(statement, values)
        return cursor.fetchone()
    except psycopg.errors.UniqueViolation as exc:
        raise UniqueViolation(exc.diag.constraint_name, str(exc)) from exc
    except psycopg.OperationalError as exc:
        pooled.invalidate()
        raise DatabaseUnavailable(str(exc)) from exc
    finally:
        pooled.close()  # back to the pool (a no-op once invalidated)


def _driver(pooled: PoolProxiedConnection) -> Connection:
    """The psycopg connection under a pooled one (SQLAlchemy types it Any, or None once closed)."""
    driver = pooled.driver_connection
    if not isinstance(driver, psycopg.Connection):
        raise DatabaseUnavailable("the pooled connection is closed")
    return driver


@contextlib.contextmanager
def driver_cursor(engine: Engine) -> Iterator[Cursor]:
    """A pooled connection's own psycopg cursor, in a transaction rolled back at the end.

    For what only the driver streams (COPY TO STDOUT) and for EXPLAIN. A lost connection
    becomes DatabaseUnavailable, whatever lost it; other errors of the statements run with
    the cursor pass through, for translate_query_errors() where the caller wants them told.
    """
    with translate_errors(), engine.connect() as connection:
        driver = _driver(connection.connection)
        try:
            with driver.cursor() as cursor:
                yield cursor
        finally:
            with contextlib.suppress(psycopg.Error):  # a broken connection leaves the pool
                driver.rollback()


@contextlib.contextmanager
def translate_query_errors() -> Iterator[None]:
    """A report query's errors: cancelled, unavailable, or refused for good."""
    try:
        yield
    except psycopg.errors.QueryCanceled as exc:  # an OperationalError too: first
        raise QueryCancelled(str(exc)) from exc
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(str(exc)) from exc
    except psycopg.errors.UniqueViolation as exc:
        raise UniqueViolation(exc.diag.constraint_name, str(exc)) from exc
    except psycopg.Error as exc:
        raise QueryFailed(str(exc)) from exc


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

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient

from api.app import create_app
from shared.config import Settings


@pytest.fixture(scope="session")
def app(settings: Settings):
    app = create_app(settings)
    yield app
    app.extensions["reportbox"].engine.dispose()


@pytest.fixture
def client(app) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def post_report(client: FlaskClient, make_token: Callable[..., str]):
    """POST a report request as `token` (a fresh analyst of acme by default)."""

    def post(report_type: str = "sessions", body: dict | None = None, token: str | None = None):
        body = (
            body
            if body is not None
            else {"format": "csv", "parameters": {"fromDate": "2026-01-01", "toDate": "2026-01-31"}}
        )
        return client.post(
            f"/api/v1/reports/{report_type}",
            json=body,
            headers={"Authorization": f"Bearer {token or make_token()}"},
        )

    return post


@pytest.fixture
def own_queue(settings: Settings, sessions):
    """Settings with an exchange and queues of this test's own, deleted afterwards.

    Outbox rows that earlier tests left unpublished are marked published first: a relay
    this test runs would otherwise publish them into this test's queue, and the worker
    would process reports that are not the test's own (seen in CI, where one of them
    delayed the message the test waited for).
    """
    import uuid

    from sqlalchemy import text

    from tests.conftest import delete_broker_topology
    from tests.integration.broker_helpers import declare

    with sessions.begin() as session:
        session.execute(text("UPDATE outbox SET published_at = now() WHERE published_at IS NULL"))
    suffix = uuid.uuid4().hex[:8]
    isolated = settings.with_overrides(
        exchange=f"{settings.exchange}.{suffix}", work_queue=f"{settings.work_queue}.{suffix}"
    )
    declare(isolated)
    yield isolated
    delete_broker_topology(isolated)


@pytest.fixture
def make_report(sessions, engine):
    """Accept a report the way the API does; returns the Report row."""
    import uuid

    from api.auth import Principal
    from api.reports import admission
    from shared.catalog import get_report_type
    from shared.models import Report

    def make(
        report_type: str = "sessions",
        parameters: dict | None = None,
        org: str = "acme",
        user_id: str | None = None,
        report_format: str = "csv",
    ):
        principal = Principal(user_id or f"user-{uuid.uuid4().hex[:8]}", org, frozenset({"admin"}))
        parameters = (
            parameters
            if parameters is not None
            else {"fromDate": "2026-01-01", "toDate": "2026-01-31"}
        )
        accepted = admission.admit(
            engine, principal, get_report_type(report_type), report_format, parameters
        )
        with sessions() as session:
            return session.get(Report, accepted.report_id)

    return make


@pytest.fixture
def make_exporter(settings: Settings, sessions, engine):
    """An Exporter as worker/__main__.py builds one; progress is written every 0.1 s."""

    from shared.storage import Storage
    from worker.exporter import Exporter
    from worker.lifecycle import Lifecycle

    def make(
        storage_settings: Settings | None = None,
        retention_seconds: float = 3600.0,
        max_attempts: int = settings.max_attempts,
        **options,
    ):
        lifecycle = Lifecycle(engine, settings.lease_seconds, retention_seconds, max_attempts)
        storage = Storage(storage_settings or settings)
        options.setdefault("progress_interval", 0.1)
        return Exporter(lifecycle, engine, storage, **options)

    return make


@pytest.fixture
def exporter(make_exporter):
    return make_exporter()


@pytest.fixture
def read_object(settings: Settings):
    """The bytes of an object in the test bucket, read with a plain S3 client."""
    from tests.services import s3_client

    client = s3_client(settings)

    def read(key: str) -> bytes:
        return client.get_object(Bucket=settings.s3_bucket, Key=key)["Body"].read()

    return read


@pytest.fixture
def throwaway_types(monkeypatch):
    """The test report types sleepy and broken, registered for this test only."""
    from shared.catalog import REPORT_TYPES
    from tests.report_types import broken, sleepy

    for module in (sleepy, broken):
        monkeypatch.setitem(REPORT_TYPES, module.REPORT_TYPE.name, module.REPORT_TYPE)

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

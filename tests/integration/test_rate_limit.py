"""MAX_REPORTS_PER_USER_PER_MINUTE: new reports per user and minute, decided in PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text

from api.app import create_app
from shared.config import Settings
from shared.models import OutboxMessage, Report
from tests.integration.helpers import concurrently

PER_MINUTE = 5


@pytest.fixture(scope="module")
def rated_app(settings: Settings):
    app = create_app(settings.with_overrides(max_reports_per_user_per_minute=PER_MINUTE))
    yield app
    app.extensions["reportbox"].engine.dispose()


def body(day: int) -> dict:
    """A request of its own per day, so no two are the same request (409)."""
    return {
        "format": "csv",
        "parameters": {"fromDate": "2026-01-01", "toDate": f"2026-01-{day:02d}"},
    }


def post(client, token: str, day: int, key: str | None = None):
    headers = {"Authorization": f"Bearer {token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.post("/api/v1/reports/sessions", json=body(day), headers=headers)


def rows_of(sessions, owner: str) -> tuple[int, int]:
    """(reports, outbox messages) of one user."""
    with sessions() as session:
        ids = select(Report.id).where(Report.owner_id == owner)
        reports = session.scalar(select(func.count()).select_from(ids.subquery()))
        messages = session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.report_id.in_(ids))
        )
    return reports, messages


def age_reports(sessions, owner: str, seconds: int) -> None:
    with sessions.begin() as session:
        session.execute(
            text(
                "UPDATE reports SET created_at = created_at - make_interval(secs => :seconds) "
                "WHERE owner_id = :owner"
            ),
            {"seconds": seconds, "owner": owner},
        )


def test_request_and_cancel_in_a_loop_is_stopped_by_the_rate_not_refunded(
    rated_app, make_token, sessions
):
    client = rated_app.test_client()
    token = make_token(sub="looper")
    auth = {"Authorization": f"Bearer {token}"}

    for day in range(1, PER_MINUTE + 1):
        accepted = post(client, token, day, key=f"loop-{day}")
        assert accepted.status_code == 202, accepted.get_json()
        cancelled = client.delete(
            f"/api/v1/reports/{accepted.get_json()['reportId']}", headers=auth
        )
        assert cancelled.status_code == 202
    refused = post(client, token, PER_MINUTE + 1)

    assert refused.status_code == 429
    assert refused.mimetype == "application/problem+json"
    problem = refused.get_json()
    assert problem["status"] == 429 and problem["title"] == "Too Many Requests"
    assert f"at most {PER_MINUTE}" in problem["detail"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert rows_of(sessions, "looper") == (PER_MINUTE, PER_MINUTE)  # the refusal wrote nothing


def test_a_replay_is_answered_as_before_and_counts_nothing(rated_app, make_token, sessions):
    client = rated_app.test_client()
    token = make_token(sub="replayer")
    first = post(client, token, 1, key="first")
    for day in range(2, PER_MINUTE + 1):
        assert post(client, token, day).status_code == 202

    replayed = post(client, token, 1, key="first")
    refused = post(client, token, PER_MINUTE + 1)

    assert replayed.status_code == 202
    assert replayed.get_json() == first.get_json()
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert refused.status_code == 429
    assert rows_of(sessions, "replayer") == (PER_MINUTE, PER_MINUTE)


def test_the_window_slides_and_other_users_are_not_held_up(rated_app, make_token, sessions):
    client = rated_app.test_client()
    token = make_token(sub="slider")
    for day in range(1, PER_MINUTE + 1):
        assert post(client, token, day).status_code == 202
    assert post(client, token, 20).status_code == 429

    other = post(client, make_token(sub="bystander"), 1)
    age_reports(sessions, "slider", 61)  # the minute has passed for all of them
    after = post(client, token, 21)

    assert other.status_code == 202
    assert after.status_code == 202


def test_retry_after_is_when_the_oldest_counted_report_leaves_the_window(
    rated_app, make_token, sessions
):
    client = rated_app.test_client()
    token = make_token(sub="waiter")
    for day in range(1, PER_MINUTE + 1):
        assert post(client, token, day).status_code == 202
    age_reports(sessions, "waiter", 45)

    refused = post(client, token, 20)

    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 15


def test_concurrent_requests_are_admitted_up_to_the_rate_exactly(rated_app, make_token, sessions):
    token = make_token(sub="racing-rate")
    days = iter(range(1, 4 * PER_MINUTE + 1))

    answers = concurrently(
        rated_app, 4 * PER_MINUTE, lambda client: post(client, token, next(days))
    )

    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [202] * PER_MINUTE + [429] * (3 * PER_MINUTE)
    assert rows_of(sessions, "racing-rate") == (PER_MINUTE, PER_MINUTE)

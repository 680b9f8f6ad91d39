"""Retries, duplicates and the per-user limit of POST /api/v1/reports/{type}."""

from __future__ import annotations

import threading

from sqlalchemy import text

from tests.integration.helpers import concurrently, reports_of

JANUARY = {"format": "csv", "parameters": {"fromDate": "2026-01-01", "toDate": "2026-01-31"}}


def post(client, token, body=JANUARY, key: str | None = None):
    headers = {"Authorization": f"Bearer {token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.post("/api/v1/reports/sessions", json=body, headers=headers)


def finish(sessions, report_id: str) -> None:
    with sessions.begin() as session:
        session.execute(
            text("UPDATE reports SET status = 'Completed' WHERE id = :id"), {"id": report_id}
        )


def test_a_retry_with_the_same_key_gets_the_first_answer(client, make_token, sessions):
    token = make_token(sub="retrier")

    first = post(client, token, key="order-42")
    second = post(client, token, key="order-42")

    assert first.status_code == second.status_code == 202
    assert second.get_json() == first.get_json()
    assert second.headers["Location"] == first.headers["Location"]
    assert second.headers["Idempotent-Replayed"] == "true"
    assert reports_of(sessions, "retrier") == 1


def test_a_key_reused_with_a_different_body_is_422(client, make_token, sessions):
    token = make_token(sub="reuser")
    post(client, token, key="k-1")
    other = {"format": "csv", "parameters": {"fromDate": "2026-02-01", "toDate": "2026-02-02"}}

    response = post(client, token, body=other, key="k-1")

    assert response.status_code == 422
    assert "Idempotency-Key" in response.get_json()["errors"]
    assert reports_of(sessions, "reuser") == 1


def test_keys_belong_to_one_user(client, make_token):
    first = post(client, make_token(sub="user-a"), key="shared-key")
    second = post(client, make_token(sub="user-b"), key="shared-key")

    assert first.get_json()["reportId"] != second.get_json()["reportId"]


def test_an_identical_active_request_is_409_until_the_first_finishes(client, make_token, sessions):
    token = make_token(sub="impatient")
    first = post(client, token).get_json()["reportId"]

    duplicate = post(client, token)
    finish(sessions, first)
    after = post(client, token)

    assert duplicate.status_code == 409
    assert duplicate.get_json()["existingReportId"] == first
    assert after.status_code == 202
    assert after.get_json()["reportId"] != first


def test_too_many_active_reports_is_429_with_retry_after(app, client, make_token, sessions):
    token = make_token(sub="busy")
    limit = app.extensions["reportbox"].settings.max_active_reports_per_user
    accepted = [
        post(
            client,
            token,
            body={
                "format": "csv",
                "parameters": {"fromDate": "2026-01-01", "toDate": f"2026-01-{day:02d}"},
            },
        )
        for day in range(1, limit + 1)
    ]

    refused = post(client, token)
    finish(sessions, accepted[0].get_json()["reportId"])
    admitted = post(client, token)

    assert {response.status_code for response in accepted} == {202}
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert admitted.status_code == 202


def test_a_bad_idempotency_key_is_422(client, make_token):
    assert post(client, make_token(), key="x" * 201).status_code == 422
    assert post(client, make_token(), key="").status_code == 422


def test_concurrent_retries_with_one_key_create_one_report(app, make_token, sessions):
    token = make_token(sub="racing-retrier")

    answers = concurrently(app, 20, lambda client: post(client, token, key="same"))

    assert {answer.status_code for answer in answers} == {202}
    assert len({answer.get_json()["reportId"] for answer in answers}) == 1
    assert reports_of(sessions, "racing-retrier") == 1


def test_concurrent_identical_requests_admit_exactly_one(app, make_token, sessions):
    token = make_token(sub="racing-duplicates")

    answers = concurrently(app, 20, lambda client: post(client, token))

    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [202] + [409] * 19
    winner = next(a.get_json()["reportId"] for a in answers if a.status_code == 202)
    assert {a.get_json()["existingReportId"] for a in answers if a.status_code == 409} == {winner}
    assert reports_of(sessions, "racing-duplicates") == 1


def test_concurrent_distinct_requests_are_admitted_up_to_the_limit_exactly(
    app, make_token, sessions
):
    token = make_token(sub="racing-distinct")
    limit = app.extensions["reportbox"].settings.max_active_reports_per_user
    days = iter(range(1, 2 * limit + 1))
    lock = threading.Lock()

    def distinct(client):
        with lock:
            day = next(days)
        body = {
            "format": "csv",
            "parameters": {"fromDate": "2026-01-01", "toDate": f"2026-03-{day:02d}"},
        }
        return post(client, token, body=body)

    answers = concurrently(app, 2 * limit, distinct)

    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [202] * limit + [429] * limit
    assert reports_of(sessions, "racing-distinct") == limit

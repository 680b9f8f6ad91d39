"""/api/v1/webhook-endpoints through the real app and database: admins only, the secret
shown once, the request-forgery guard at save, test, rotate, messages and retry."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from api.app import create_app
from client import verify_webhook
from dispatcher.dispatcher import Dispatcher
from dispatcher.sender import Sender
from shared.webhooks.addresses import parse_networks
from tests.integration.webhook_receiver import Receiver

BASE = "/api/v1/webhook-endpoints"
LOOPBACK = "127.0.0.0/8"


@pytest.fixture(scope="module")
def hooks_settings(settings):
    return settings.with_overrides(webhook_allow_http=True, webhook_allowed_cidrs=LOOPBACK)


@pytest.fixture(scope="module")
def hooks_client(hooks_settings):
    app = create_app(hooks_settings)
    yield app.test_client()
    app.extensions["reportbox"].engine.dispose()


@pytest.fixture
def org() -> str:
    return f"api-hooks-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def admin(make_token, org):
    return {"Authorization": f"Bearer {make_token(org=org, roles=('admin',))}"}


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.close()


def create(client, headers, url, **fields):
    body = {"url": url, "eventTypes": ["report.completed"], **fields}
    return client.post(BASE, json=body, headers=headers)


def test_an_admin_registers_an_endpoint_and_sees_its_secret_once(
    hooks_client, admin, engine, receiver
):
    answer = create(
        hooks_client,
        admin,
        receiver.url("/in"),
        description="ops",
        reportTypes=["sessions"],
        includeDownloadUrl=True,
    )
    assert answer.status_code == 201, answer.get_json()
    created = answer.get_json()
    assert created["secret"].startswith("whsec_")
    assert len(base64.b64decode(created["secret"].removeprefix("whsec_"))) == 32
    assert answer.headers["Location"].endswith(f"{BASE}/{created['endpointId']}")
    assert created["eventTypes"] == ["report.completed"]
    assert created["reportTypes"] == ["sessions"] and created["includeDownloadUrl"] is True
    assert created["disabled"] is False and created["description"] == "ops"

    endpoint_url = f"{BASE}/{created['endpointId']}"
    read = hooks_client.get(endpoint_url, headers=admin).get_json()
    listed = hooks_client.get(BASE, headers=admin).get_json()
    changed = hooks_client.patch(endpoint_url, json={"description": "x"}, headers=admin)
    for shown in (read, listed, changed.get_json()):
        assert created["secret"] not in str(shown) and "secret" not in shown
    assert read == {key: value for key, value in created.items() if key != "secret"}
    assert listed["total"] == 1 and listed["items"][0]["endpointId"] == created["endpointId"]
    assert "secret" not in listed["items"][0]


def test_only_admins_of_the_org_manage_endpoints(hooks_client, admin, make_token, org, receiver):
    created = create(hooks_client, admin, receiver.url("/in")).get_json()
    path = f"{BASE}/{created['endpointId']}"
    analyst = {"Authorization": f"Bearer {make_token(org=org, roles=('analyst',))}"}
    other = {"Authorization": f"Bearer {make_token(org=f'{org}-x', roles=('admin',))}"}
    message = f"{path}/messages/{uuid.uuid4()}/retry"
    calls = [
        ("post", BASE, {"url": receiver.url("/in"), "eventTypes": ["report.failed"]}),
        ("get", BASE, None),
        ("get", path, None),
        ("patch", path, {"description": "x"}),
        ("delete", path, None),
        ("post", f"{path}/test", None),
        ("post", f"{path}/rotate-secret", None),
        ("get", f"{path}/messages", None),
        ("post", message, None),
    ]
    for method, url, body in calls:
        answer = getattr(hooks_client, method)(url, json=body, headers=analyst)
        assert answer.status_code == 403, (method, url)
    for method, url, body in calls[2:]:
        answer = getattr(hooks_client, method)(url, json=body, headers=other)
        assert answer.status_code == 404, (method, url)  # another org's: not revealed
    assert hooks_client.get(BASE, headers=other).get_json()["items"] == []
    assert hooks_client.get(path, headers=admin).status_code == 200  # untouched


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("http://hooks.example.com/in", "https"),
        ("https://user:pw@hooks.example.com/in", "user info"),
        ("ftp://hooks.example.com/in", "https"),
        ("https://127.0.0.1/in", "127.0.0.1"),
        ("https://169.254.169.254/latest/meta-data", "169.254.169.254"),
        ("https://[::1]:8443/in", "::1"),
        ("https://localhost/in", "localhost"),
    ],
)
def test_the_request_forgery_guard_refuses_at_save_naming_why(client, make_token, url, named):
    admin = {"Authorization": f"Bearer {make_token(roles=('admin',))}"}
    answer = create(client, admin, url)
    assert answer.status_code == 422
    assert named in answer.get_json()["errors"]["url"][0]


def test_a_changed_url_is_checked_again(hooks_client, admin, receiver):
    created = create(hooks_client, admin, receiver.url("/in")).get_json()
    answer = hooks_client.patch(
        f"{BASE}/{created['endpointId']}",
        json={"url": "https://10.0.0.1/in"},
        headers=admin,
    )
    assert answer.status_code == 422 and "10.0.0.1" in answer.get_json()["errors"]["url"][0]


def test_bad_fields_are_422_with_each_named(hooks_client, admin, receiver):
    answer = hooks_client.post(
        BASE,
        json={"url": receiver.url("/in"), "eventTypes": ["report.started"], "reportTypes": ["x"]},
        headers=admin,
    )
    assert answer.status_code == 422
    assert set(answer.get_json()["errors"]) == {"eventTypes.0", "reportTypes.0"}
    assert create(hooks_client, admin, receiver.url("/in"), eventTypes=[]).status_code == 422


def test_disabled_false_re_enables_and_the_streak_starts_afresh(
    hooks_client, admin, engine, receiver
):
    created = create(hooks_client, admin, receiver.url("/in")).get_json()
    path = f"{BASE}/{created['endpointId']}"
    with engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE webhook_endpoints SET disabled = true, disabled_reason = 'gone', "
                "failing_since = now() - interval '6 days' WHERE id = :id"
            ),
            {"id": created["endpointId"]},
        )
    read = hooks_client.get(path, headers=admin).get_json()
    assert read["disabled"] is True and read["disabledReason"] == "gone"
    assert hooks_client.post(f"{path}/test", headers=admin).status_code == 409
    enabled = hooks_client.patch(path, json={"disabled": False}, headers=admin).get_json()
    assert enabled["disabled"] is False
    assert enabled["disabledReason"] is None and enabled["failingSince"] is None


def test_delete_ends_the_endpoint_and_its_messages(hooks_client, admin, engine, receiver):
    created = create(hooks_client, admin, receiver.url("/in")).get_json()
    path = f"{BASE}/{created['endpointId']}"
    assert hooks_client.post(f"{path}/test", headers=admin).status_code == 202
    assert hooks_client.delete(path, headers=admin).status_code == 204
    assert hooks_client.get(path, headers=admin).status_code == 404
    assert hooks_client.delete(path, headers=admin).status_code == 404
    with engine.connect() as connection:
        left = connection.execute(
            text("SELECT count(*) FROM webhook_messages WHERE endpoint_id = :id"),
            {"id": created["endpointId"]},
        ).scalar_one()
    assert left == 0


def dispatcher_for(settings, engine):
    sender = Sender(True, parse_networks(LOOPBACK), 3.0)
    return Dispatcher(settings, engine, sender)


def send_due(dispatcher) -> None:
    while futures := dispatcher.run_once():
        for future in futures:
            future.result(timeout=30)


@pytest.fixture
def quiet(engine):
    """Only this test's endpoints are sent to."""
    with engine.begin() as connection:
        connection.execute(text("UPDATE webhook_endpoints SET disabled = true"))


def test_a_test_event_is_sent_signed_and_shows_in_the_messages(
    hooks_client, hooks_settings, admin, engine, receiver, quiet
):
    created = create(hooks_client, admin, receiver.url("/ping")).get_json()
    path = f"{BASE}/{created['endpointId']}"
    queued = hooks_client.post(f"{path}/test", headers=admin)
    assert queued.status_code == 202
    message_id = queued.get_json()["messageId"]
    (pending,) = hooks_client.get(f"{path}/messages", headers=admin).get_json()["items"]
    assert pending["messageId"] == message_id and pending["status"] == "pending"
    assert pending["eventType"] == "webhook.test" and pending["attempts"] == 0

    send_due(dispatcher_for(hooks_settings, engine))
    (request,) = receiver.requests_to("/ping")
    event = verify_webhook(request.body, request.headers, created["secret"])
    assert event["type"] == "webhook.test"
    assert event["data"]["endpointId"] == created["endpointId"]
    (delivered,) = hooks_client.get(f"{path}/messages", headers=admin).get_json()["items"]
    assert delivered["status"] == "delivered" and delivered["attempts"] == 1
    assert delivered["lastStatusCode"] == 200 and delivered["deliveredAt"]
    assert delivered["nextAttemptAt"] is None
    only_failed = hooks_client.get(f"{path}/messages?status=failed", headers=admin).get_json()
    assert only_failed["items"] == []
    assert hooks_client.get(f"{path}/messages?status=lost", headers=admin).status_code == 422


def test_rotation_answers_a_new_secret_and_both_sign_for_the_overlap(
    hooks_client, hooks_settings, admin, engine, receiver, quiet
):
    created = create(hooks_client, admin, receiver.url("/rotate")).get_json()
    path = f"{BASE}/{created['endpointId']}"
    rotated = hooks_client.post(f"{path}/rotate-secret", headers=admin)
    assert rotated.status_code == 200
    new = rotated.get_json()["secret"]
    assert new.startswith("whsec_") and new != created["secret"]
    expires = datetime.fromisoformat(rotated.get_json()["previousSecretExpiresAt"])
    assert abs(expires - (datetime.now(UTC) + timedelta(seconds=86400))) < timedelta(minutes=1)
    hooks_client.post(f"{path}/test", headers=admin)
    send_due(dispatcher_for(hooks_settings, engine))
    (request,) = receiver.requests_to("/rotate")
    for secret in (created["secret"], new):
        verify_webhook(request.body, request.headers, secret)


def test_retry_sends_one_message_again_with_the_same_webhook_id(
    hooks_client, hooks_settings, admin, engine, receiver, quiet
):
    created = create(hooks_client, admin, receiver.url("/retry")).get_json()
    path = f"{BASE}/{created['endpointId']}"
    receiver.script("/retry", 500)
    message_id = hooks_client.post(f"{path}/test", headers=admin).get_json()["messageId"]
    dispatcher = dispatcher_for(hooks_settings, engine)
    send_due(dispatcher)
    (failed,) = hooks_client.get(f"{path}/messages", headers=admin).get_json()["items"]
    assert failed["status"] == "pending" and failed["lastStatusCode"] == 500
    assert failed["lastError"] == "HTTP 500" and failed["nextAttemptAt"]

    retried = hooks_client.post(f"{path}/messages/{message_id}/retry", headers=admin)
    assert retried.status_code == 202
    send_due(dispatcher)
    requests = receiver.requests_to("/retry")
    assert [r.headers["webhook-id"] for r in requests] == [message_id, message_id]
    (delivered,) = hooks_client.get(f"{path}/messages", headers=admin).get_json()["items"]
    assert delivered["status"] == "delivered" and delivered["attempts"] == 2
    unknown = hooks_client.post(f"{path}/messages/{uuid.uuid4()}/retry", headers=admin)
    assert unknown.status_code == 404
    hooks_client.patch(path, json={"disabled": True}, headers=admin)
    disabled = hooks_client.post(f"{path}/messages/{message_id}/retry", headers=admin)
    assert disabled.status_code == 409


def stored_secrets(engine, endpoint_id: str):
    with engine.connect() as connection:
        return connection.execute(
            text("SELECT secret, previous_secret FROM webhook_endpoints WHERE id = :id"),
            {"id": endpoint_id},
        ).one()


def test_secrets_are_stored_sealed_and_deliveries_still_verify(
    hooks_client, hooks_settings, admin, engine, receiver, quiet
):
    created = create(hooks_client, admin, receiver.url("/sealed")).get_json()
    path = f"{BASE}/{created['endpointId']}"
    first = stored_secrets(engine, created["endpointId"])
    new = hooks_client.post(f"{path}/rotate-secret", headers=admin).get_json()["secret"]
    rotated = stored_secrets(engine, created["endpointId"])

    for column in (first.secret, rotated.secret, rotated.previous_secret):
        assert "whsec_" not in column
    assert created["secret"] not in first.secret and new not in rotated.secret
    assert rotated.previous_secret == first.secret  # the old one, still sealed, signs beside
    hooks_client.post(f"{path}/test", headers=admin)
    send_due(dispatcher_for(hooks_settings, engine))
    (request,) = receiver.requests_to("/sealed")
    for secret in (created["secret"], new):
        verify_webhook(request.body, request.headers, secret)


def test_without_a_secrets_key_nothing_is_saved_and_the_answer_says_why(
    hooks_settings, admin, engine, org, receiver
):
    app = create_app(hooks_settings.with_overrides(delivery_secrets_key=None))
    try:
        keyless = app.test_client()
        refused = create(keyless, admin, receiver.url("/keyless"))
        assert refused.status_code == 503
        assert refused.content_type == "application/problem+json"
        assert "DELIVERY_SECRETS_KEY" in refused.get_json()["detail"]
        assert keyless.get(BASE, headers=admin).get_json()["total"] == 0
    finally:
        app.extensions["reportbox"].engine.dispose()

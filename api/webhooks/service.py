"""What the webhook endpoint views do, without HTTP: each function one short transaction.

Each view calls one function here with the app's Dependencies and the caller. Every one
needs the `admin` role (checked first, before the body is read); another org's endpoint is
never told apart from a missing one. Refusals are raised as the domain errors of
shared/errors.py, which api/errors.py answers.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, Row, text

from api.auth import Principal
from api.dependencies import Dependencies
from shared.config import Settings
from shared.db import translate_errors
from shared.errors import (
    AdminRequired,
    InvalidParameters,
    WebhookEndpointDisabled,
    WebhookEndpointNotFound,
    WebhookMessageNotFound,
    WebhookSecretsUnavailable,
)
from shared.secrets import SecretsUnavailable
from shared.webhooks import endpoints, messages
from shared.webhooks.addresses import (
    Resolver,
    UnsafeUrl,
    checked_addresses,
    parse_networks,
    parse_target,
    system_resolver,
)
from shared.webhooks.payload import ping_data

log = logging.getLogger(__name__)

Loader = Callable[[], dict[str, Any]]

# The fields a PATCH may change, and their columns.
_CHANGEABLE = {
    "url": "url",
    "description": "description",
    "event_types": "event_types",
    "report_types": "report_types",
    "include_download_url": "include_download_url",
}

COUNT = text("SELECT count(*) FROM webhook_endpoints WHERE org = :org")


def create_endpoint(
    deps: Dependencies, principal: Principal, load_body: Loader
) -> tuple[Row[Any], str]:
    """A new endpoint of the caller's org and its secret (shown in this answer alone)."""
    _check_admin(principal)
    fields = load_body()
    check_url(fields["url"], deps.settings)
    with _sealing(), translate_errors(), deps.engine.begin() as connection:
        return endpoints.create(
            connection,
            principal.org,
            fields["url"],
            fields["event_types"],
            fields.get("report_types", []),
            fields.get("description"),
            fields.get("include_download_url", False),
            secrets_key=deps.settings.delivery_secrets_key,
        )


def endpoint_page(
    deps: Dependencies, principal: Principal, page: int, page_size: int
) -> tuple[Sequence[Row[Any]], int]:
    _check_admin(principal)
    with translate_errors(), deps.engine.connect() as connection:
        rows = connection.execute(
            endpoints.LIST,
            {"org": principal.org, "limit": page_size, "offset": (page - 1) * page_size},
        ).all()
        if rows:
            return rows, rows[0].total
        # A page past the end has no row to carry the total.
        return [], connection.execute(COUNT, {"org": principal.org}).scalar_one()


def get_endpoint(deps: Dependencies, principal: Principal, endpoint_id: uuid.UUID) -> Row[Any]:
    _check_admin(principal)
    with translate_errors(), deps.engine.connect() as connection:
        return _endpoint(connection, principal, endpoint_id)


def change_endpoint(
    deps: Dependencies, principal: Principal, endpoint_id: uuid.UUID, load_body: Loader
) -> Row[Any]:
    """Change the given fields; `disabled` false re-enables (the failing streak starts anew)."""
    _check_admin(principal)
    fields = load_body()
    if "url" in fields:
        check_url(fields["url"], deps.settings)
    columns = {_CHANGEABLE[name]: value for name, value in fields.items() if name in _CHANGEABLE}
    with translate_errors(), deps.engine.begin() as connection:
        _endpoint(connection, principal, endpoint_id)
        if columns:
            assignments = ", ".join(f"{column} = :{column}" for column in columns)
            connection.execute(
                text(
                    f"UPDATE webhook_endpoints SET {assignments}, updated_at = now() "
                    "WHERE id = :id AND org = :org"
                ),
                {**columns, "id": endpoint_id, "org": principal.org},
            )
        if fields.get("disabled") is False:
            connection.execute(endpoints.ENABLE, {"id": endpoint_id, "org": principal.org})
        elif fields.get("disabled") is True:
            connection.execute(
                endpoints.DISABLE, {"id": endpoint_id, "reason": "Disabled through the API."}
            )
        return _endpoint(connection, principal, endpoint_id)


def delete_endpoint(deps: Dependencies, principal: Principal, endpoint_id: uuid.UUID) -> None:
    _check_admin(principal)
    with translate_errors(), deps.engine.begin() as connection:
        deleted = connection.execute(
            endpoints.DELETE, {"id": endpoint_id, "org": principal.org}
        ).first()
    if deleted is None:
        raise WebhookEndpointNotFound()


def send_test(deps: Dependencies, principal: Principal, endpoint_id: uuid.UUID) -> uuid.UUID:
    """Queue a `webhook.test` message for this endpoint alone; its id."""
    _check_admin(principal)
    message_id = uuid.uuid4()
    with translate_errors(), deps.engine.begin() as connection:
        _check_enabled(_endpoint(connection, principal, endpoint_id))
        connection.execute(
            messages.INSERT_TEST,
            {
                "id": message_id,
                "endpoint_id": endpoint_id,
                "org": principal.org,
                "snapshot": json.dumps(ping_data(endpoint_id)),
            },
        )
    return message_id


def rotate_secret(
    deps: Dependencies, principal: Principal, endpoint_id: uuid.UUID
) -> tuple[str, Row[Any]]:
    """A new secret; the old one signs beside it for WEBHOOK_SECRET_OVERLAP_SECONDS."""
    _check_admin(principal)
    overlap = deps.settings.webhook_secret_overlap_seconds
    key = deps.settings.delivery_secrets_key
    with _sealing(), translate_errors(), deps.engine.begin() as connection:
        secret = endpoints.rotate(connection, endpoint_id, principal.org, overlap, secrets_key=key)
        if secret is None:
            raise WebhookEndpointNotFound()
        return secret, _endpoint(connection, principal, endpoint_id)


def recent_messages(
    deps: Dependencies,
    principal: Principal,
    endpoint_id: uuid.UUID,
    state: str | None,
    limit: int,
) -> Sequence[Row[Any]]:
    _check_admin(principal)
    with translate_errors(), deps.engine.connect() as connection:
        _endpoint(connection, principal, endpoint_id)
        return connection.execute(
            messages.LIST, {"endpoint_id": endpoint_id, "state": state, "limit": limit}
        ).all()


def retry_message(
    deps: Dependencies, principal: Principal, endpoint_id: uuid.UUID, message_id: uuid.UUID
) -> None:
    """Make the message due now (same webhook-id), whatever its state."""
    _check_admin(principal)
    with translate_errors(), deps.engine.begin() as connection:
        _check_enabled(_endpoint(connection, principal, endpoint_id))
        retried = connection.execute(
            messages.RETRY_NOW,
            {"id": message_id, "endpoint_id": endpoint_id, "org": principal.org},
        ).first()
    if retried is None:
        raise WebhookMessageNotFound()


def check_url(url: str, settings: Settings, resolver: Resolver = system_resolver) -> None:
    """The request-forgery guard at save time: a 422 naming what is refused (an address too)."""
    try:
        target = parse_target(url, settings.webhook_allow_http)
        checked_addresses(target, parse_networks(settings.webhook_allowed_cidrs), resolver)
    except UnsafeUrl as exc:
        raise InvalidParameters("The webhook URL may not be called.", {"url": [str(exc)]}) from None


@contextlib.contextmanager
def _sealing() -> Iterator[None]:
    """A secret that cannot be sealed is a 503 (the transaction rolls back: nothing saved)."""
    try:
        yield
    except SecretsUnavailable as exc:
        log.error("webhooks.secrets_unavailable error=%s", exc)
        raise WebhookSecretsUnavailable() from None


def _check_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise AdminRequired("manage webhook endpoints")


def _endpoint(connection: Connection, principal: Principal, endpoint_id: uuid.UUID) -> Row[Any]:
    row = connection.execute(endpoints.GET, {"id": endpoint_id, "org": principal.org}).first()
    if row is None:
        raise WebhookEndpointNotFound()
    return row


def _check_enabled(endpoint: Row[Any]) -> None:
    if endpoint.disabled:
        raise WebhookEndpointDisabled()

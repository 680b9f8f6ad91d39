"""What the webhook endpoint views do: each function one short transaction, errors raised as
ApiError for the one handler (api/errors.py) to answer."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import Connection, Engine, Row, text

from api.auth import Principal
from api.errors import ApiError
from shared.config import Settings
from shared.db import translate_errors
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

NOT_FOUND = "There is no such webhook endpoint."

# The fields a PATCH may change and their columns.
_CHANGEABLE = {
    "url": "url",
    "description": "description",
    "event_types": "event_types",
    "report_types": "report_types",
    "include_download_url": "include_download_url",
}


def check_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise ApiError(403, "Forbidden", "Only an admin of the org may manage webhook endpoints.")


def check_url(url: str, settings: Settings, resolver: Resolver = system_resolver) -> None:
    """The request-forgery guard at save time: 422 naming what is refused (an address too)."""
    try:
        target = parse_target(url, settings.webhook_allow_http)
        checked_addresses(target, parse_networks(settings.webhook_allowed_cidrs), resolver)
    except UnsafeUrl as exc:
        raise ApiError(
            422,
            "Unprocessable Content",
            "The webhook URL may not be called.",
            errors={"url": [str(exc)]},
        ) from None


def create(engine: Engine, principal: Principal, fields: dict[str, Any]) -> tuple[Row, str]:
    with translate_errors(), engine.begin() as connection:
        return endpoints.create(
            connection,
            principal.org,
            fields["url"],
            fields["event_types"],
            fields.get("report_types", []),
            fields.get("description"),
            fields.get("include_download_url", False),
        )


def get(engine: Engine, principal: Principal, endpoint_id: uuid.UUID) -> Row:
    with translate_errors(), engine.connect() as connection:
        return _get(connection, principal, endpoint_id)


def _get(connection: Connection, principal: Principal, endpoint_id: uuid.UUID) -> Row:
    # Another org's endpoint is a 404 like a missing one: existence is not revealed.
    row = connection.execute(endpoints.GET, {"id": endpoint_id, "org": principal.org}).first()
    if row is None:
        raise ApiError(404, "Not Found", NOT_FOUND)
    return row


def page(engine: Engine, principal: Principal, number: int, size: int) -> tuple[list[Row], int]:
    with translate_errors(), engine.connect() as connection:
        rows = connection.execute(
            endpoints.LIST, {"org": principal.org, "limit": size, "offset": (number - 1) * size}
        ).all()
    if rows:
        return rows, rows[0].total
    return [], _count(engine, principal)


def _count(engine: Engine, principal: Principal) -> int:
    with translate_errors(), engine.connect() as connection:
        return connection.execute(
            text("SELECT count(*) FROM webhook_endpoints WHERE org = :org"),
            {"org": principal.org},
        ).scalar_one()


def change(
    engine: Engine, principal: Principal, endpoint_id: uuid.UUID, fields: dict[str, Any]
) -> Row:
    columns = {_CHANGEABLE[name]: value for name, value in fields.items() if name in _CHANGEABLE}
    with translate_errors(), engine.begin() as connection:
        _get(connection, principal, endpoint_id)
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
        return _get(connection, principal, endpoint_id)


def delete(engine: Engine, principal: Principal, endpoint_id: uuid.UUID) -> None:
    with translate_errors(), engine.begin() as connection:
        deleted = connection.execute(
            endpoints.DELETE, {"id": endpoint_id, "org": principal.org}
        ).first()
    if deleted is None:
        raise ApiError(404, "Not Found", NOT_FOUND)


def send_test(engine: Engine, principal: Principal, endpoint_id: uuid.UUID) -> uuid.UUID:
    with translate_errors(), engine.begin() as connection:
        _check_enabled(_get(connection, principal, endpoint_id))
        message_id = uuid.uuid4()
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
    engine: Engine, principal: Principal, endpoint_id: uuid.UUID, overlap_seconds: float
) -> tuple[str, Row]:
    with translate_errors(), engine.begin() as connection:
        secret = endpoints.rotate(connection, endpoint_id, principal.org, overlap_seconds)
        if secret is None:
            raise ApiError(404, "Not Found", NOT_FOUND)
        return secret, _get(connection, principal, endpoint_id)


def list_messages(
    engine: Engine, principal: Principal, endpoint_id: uuid.UUID, state: str | None, limit: int
) -> list[Row]:
    with translate_errors(), engine.connect() as connection:
        _get(connection, principal, endpoint_id)
        return connection.execute(
            messages.LIST, {"endpoint_id": endpoint_id, "state": state, "limit": limit}
        ).all()


def retry_message(
    engine: Engine, principal: Principal, endpoint_id: uuid.UUID, message_id: uuid.UUID
) -> None:
    with translate_errors(), engine.begin() as connection:
        _check_enabled(_get(connection, principal, endpoint_id))
        retried = connection.execute(
            messages.RETRY_NOW,
            {"id": message_id, "endpoint_id": endpoint_id, "org": principal.org},
        ).first()
    if retried is None:
        raise ApiError(404, "Not Found", "The endpoint has no such message.")


def _check_enabled(endpoint: Row) -> None:
    if endpoint.disabled:
        raise ApiError(
            409,
            "Conflict",
            'The endpoint is disabled; re-enable it first (PATCH {"disabled": false}).',
        )

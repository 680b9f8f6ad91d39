"""Loading request data with a marshmallow schema; failures become one 422 problem."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import Schema, ValidationError

from api.errors import ApiError, flatten_messages


def load_or_422(schema: Schema, data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise ApiError(
            422,
            "Unprocessable Content",
            "The request has invalid fields.",
            errors=flatten_messages(exc.messages, prefix),
        ) from exc

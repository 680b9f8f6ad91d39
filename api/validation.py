"""Loading request data with a marshmallow schema; failures become one 422 problem."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import Schema, ValidationError

from api.errors import flatten_messages
from shared.errors import InvalidParameters


def load_or_422(schema: Schema, data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise InvalidParameters(
            "The request has invalid fields.", flatten_messages(exc.messages, prefix)
        ) from exc

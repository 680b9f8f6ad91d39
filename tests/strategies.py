"""Hypothesis strategies built from the JSON Schema that GET /api/v1/report-types serves.

hypothesis-jsonschema (0.23) no longer runs on current Hypothesis (it calls an internal API
that changed), and the catalog's schemas use only a small part of JSON Schema: these cover
that part, and fail loudly on anything else, so a new keyword cannot go untested silently.
"""

from __future__ import annotations

import datetime
from typing import Any

from hypothesis import strategies as st

KNOWN = {
    "type", "properties", "required", "additionalProperties", "format", "pattern", "enum",
    "minLength", "maxLength", "minimum", "maximum", "items", "uniqueItems", "minItems",
    "maxItems", "default", "description", "title", "x-minimum", "x-maximum",
}  # fmt: skip


def from_json_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    unknown = set(schema) - KNOWN
    if unknown:
        raise NotImplementedError(f"no strategy for the keywords {sorted(unknown)}")
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if isinstance(kind, list):  # ["string", "null"]
        return st.one_of([from_json_schema({**schema, "type": one}) for one in kind])
    if kind == "object":
        return _object(schema)
    if kind == "string":
        return _string(schema)
    if kind == "integer":
        return st.integers(schema.get("minimum"), schema.get("maximum"))
    if kind == "number":
        return st.floats(schema.get("minimum"), schema.get("maximum"), allow_nan=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "array":
        return st.lists(
            from_json_schema(schema.get("items", {"type": "string"})),
            min_size=schema.get("minItems", 0),
            max_size=schema.get("maxItems", 5),
            unique=bool(schema.get("uniqueItems")),
        )
    raise NotImplementedError(f"no strategy for type {kind!r}")


def _object(schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    properties = schema.get("properties", {})
    required = set(schema.get("required", ()))
    return st.fixed_dictionaries(
        {name: from_json_schema(sub) for name, sub in properties.items() if name in required},
        optional={
            name: from_json_schema(sub) for name, sub in properties.items() if name not in required
        },
    )


def _string(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    if schema.get("format") == "date":
        low = datetime.date.fromisoformat(schema.get("x-minimum", "1900-01-01"))
        high = datetime.date.fromisoformat(schema.get("x-maximum", "2999-12-31"))
        return st.dates(low, high).map(datetime.date.isoformat)
    if "pattern" in schema:
        return st.from_regex(schema["pattern"], fullmatch=True)
    return st.text(min_size=schema.get("minLength", 0), max_size=schema.get("maxLength", 40))

"""What every schema that reads a client's input refuses, whatever its fields say.

PostgreSQL cannot store a NUL character in text or jsonb, and UTF-8 cannot encode a lone
surrogate (JSON's "\\ud800" decodes to one): either would pass a field's own validation and
then fail at the database as a 500. Refusing them here, once, names the field instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any, overload

from marshmallow import Schema, ValidationError, fields, pre_load, validate

# Dates a report may name: wide enough for any real data, narrow enough that the end of the
# range plus a day and every timestamp built from it stay representable (9999-12-31 does not).
EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(2999, 12, 31)

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def refusal(value: str) -> str | None:
    """Why a string cannot be accepted, or None when it can."""
    if "\x00" in value:
        return "must not contain a NUL character"
    if _LONE_SURROGATE.search(value):
        return "must be valid Unicode (a lone surrogate is not)"
    return None


def _refusals(value: Any) -> Any:
    """The marshmallow-shaped error messages for every unstorable string inside value."""
    if isinstance(value, str):
        reason = refusal(value)
        return [reason] if reason else None
    if isinstance(value, Mapping):
        errors = {}
        for key, item in value.items():
            found = _refusals(key) if isinstance(key, str) else None
            found = found or _refusals(item)
            if found:
                errors[_printable(key)] = found
        return errors or None
    if isinstance(value, list | tuple):
        by_index = {index: found for index, item in enumerate(value) if (found := _refusals(item))}
        return by_index or None
    return None


def _printable(key: Any) -> str:
    return str(key).replace("\x00", "\\u0000").encode("utf-8", "backslashreplace").decode()


class InputSchema(Schema):
    """A schema for client input: unstorable strings anywhere in it are a validation error."""

    @pre_load
    def _refuse_unstorable_strings(self, data: Any, **_: object) -> Any:
        errors = _refusals(data) if isinstance(data, Mapping) else None
        if errors:
            raise ValidationError(errors)
        return data


class FullMatch(validate.Regexp):
    """A pattern the whole value must match: Regexp's re.match with `$` accepts "DE\\n".

    Anchored as ^(?:...)$ for the JSON Schema that apispec derives (ECMA's `$` is strict).
    """

    def __init__(self, pattern: str, error: str) -> None:
        anchored = f"^(?:{pattern})$"
        super().__init__(anchored, error=error)
        self._whole = re.compile(anchored)  # a str pattern (Regexp's may be bytes)

    # Regexp's signature; a string field only ever passes a str, and bytes never match.
    @overload
    def __call__(self, value: str) -> str: ...
    @overload
    def __call__(self, value: bytes) -> bytes: ...
    def __call__(self, value: str | bytes) -> str | bytes:
        if not isinstance(value, str) or self._whole.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


def report_date(**kwargs: Any) -> fields.Date:
    """An ISO date between EARLIEST_DATE and LATEST_DATE."""
    return fields.Date(
        validate=validate.Range(
            min=EARLIEST_DATE,
            max=LATEST_DATE,
            error=f"must be between {EARLIEST_DATE.isoformat()} and {LATEST_DATE.isoformat()}",
        ),
        **kwargs,
    )

"""The parameters every report type gets: which columns, in which order, in which time zone.

They are added to each type's own schema here, once, so a type never declares them, and the
JSON Schema that /api/v1/report-types lists is derived from the same fields that validate.
"""

from __future__ import annotations

import functools
import zoneinfo
from collections.abc import Sequence

from marshmallow import ValidationError, fields, validate

from shared.inputs import InputSchema

DEFAULT_TIMEZONE = "UTC"
STANDARD_FIELDS = ("columns", "timezone")


@functools.cache
def known_timezones() -> frozenset[str]:
    """IANA zone names (from the system's zoneinfo, or the tzdata package)."""
    return frozenset(zoneinfo.available_timezones())


def _known_timezone(name: str) -> None:
    if name not in known_timezones():
        raise ValidationError(f"{name!r} is not an IANA time zone name (like Europe/Berlin)")


def _distinct(names: list[str]) -> None:
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValidationError(f"names a column more than once: {', '.join(repeated)}")


def standard_schema(own: type[InputSchema], column_names: Sequence[str]) -> type[InputSchema]:
    """own's fields plus `columns` (a subset of column_names, in the order given; all by
    default) and `timezone` (an IANA name, UTC by default)."""
    names = list(column_names)
    columns = fields.List(
        fields.String(
            validate=validate.OneOf(
                names, error="unknown column {input!r}; the columns are: {choices}"
            )
        ),
        load_default=lambda: list(names),
        validate=[validate.Length(min=1, max=len(names)), _distinct],
        metadata={"description": "The columns to export, in this order; all by default."},
    )
    timezone = fields.String(
        load_default=DEFAULT_TIMEZONE,
        validate=[validate.Length(min=1, max=64), _known_timezone],
        metadata={
            "description": "An IANA time zone name such as Europe/Berlin: dates are days in "
            "it, timestamps are shown in it."
        },
    )
    return type(own.__name__, (own,), {"columns": columns, "timezone": timezone})

"""The parameters every report type gets: which columns, in which order, in which time zone.

They are added to each type's own schema here, once, so a type never declares them, and the
JSON Schema that /api/v1/report-types lists is derived from the same fields that validate.
"""

from __future__ import annotations

import functools
import importlib.resources
from collections.abc import Sequence, Sized
from typing import Any

from marshmallow import ValidationError, fields, utils, validate

from shared.inputs import InputSchema

DEFAULT_TIMEZONE = "UTC"
STANDARD_FIELDS = ("columns", "timezone")


# In tzdata's list of zones, yet no place: its offset is 0 and its abbreviation "-00".
NOT_LOCATIONS = frozenset({"Factory"})


@functools.cache
def known_timezones() -> frozenset[str]:
    """The IANA zone names (and their backward-compatible links) that tzdata ships.

    Not zoneinfo.available_timezones(): that lists the host's zoneinfo folder, where
    localtime (the host's own zone) and posixrules also live, so what a request could name
    would depend on the machine that validates it.
    """
    shipped = importlib.resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8")
    return frozenset(shipped.split()) - NOT_LOCATIONS


def _known_timezone(name: str) -> None:
    if name not in known_timezones():
        raise ValidationError(f"{name!r} is not an IANA time zone name (like Europe/Berlin)")


def _distinct(names: list[str]) -> None:
    seen: set[str] = set()
    repeated: dict[str, None] = {}  # in the order of their first repeat, each once
    for name in names:
        if name in seen:
            repeated[name] = None
        seen.add(name)
    if repeated:
        raise ValidationError(f"names a column more than once: {', '.join(repeated)}")


class ColumnList(fields.List[str]):
    """A list of column names that is counted before any name in it is read.

    A body of 64 KiB holds thousands of names; each name's own check would run (and report)
    thousands of times before the list's length refused them all at once.
    """

    def __init__(self, names: Sequence[str], **kwargs: Any) -> None:
        self._most = len(names)
        super().__init__(
            fields.String(
                validate=validate.OneOf(
                    names, error="unknown column {input!r}; the columns are: {choices}"
                )
            ),
            # Never refuses (the count came first); it puts minItems/maxItems in the schema.
            validate=[validate.Length(min=1, max=self._most), _distinct],
            **kwargs,
        )

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> list[Any]:
        counted = utils.is_collection(value) and isinstance(value, Sized)
        if counted and not 1 <= len(value) <= self._most:
            raise ValidationError(f"must name 1 to {self._most} columns, not {len(value)}")
        return super()._deserialize(value, attr, data, **kwargs)


def standard_schema(own: type[InputSchema], column_names: Sequence[str]) -> type[InputSchema]:
    """own's fields plus `columns` (a subset of column_names, in the order given; all by
    default) and `timezone` (an IANA name, UTC by default)."""
    names = list(column_names)
    columns = ColumnList(
        names,
        load_default=lambda: list(names),
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

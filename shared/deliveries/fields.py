"""Reading a delivery target's members, pure: the checks every kind's validate() shares.

Each raises InvalidTarget naming the member, so the API answers 422 with
`deliveries.N.<member>`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from shared.deliveries.targets import InvalidTarget


def refuse_unknown(target: Mapping[str, Any], known: Iterable[str]) -> None:
    """A member the kind does not know is refused, not ignored: a typo (`bukcet`) would
    otherwise save a target that silently lacks what its author meant. `kind` names the kind
    itself and is always allowed."""
    unknown = sorted(set(target) - set(known) - {"kind"})
    if unknown:
        raise InvalidTarget(unknown[0], "unknown member of this delivery")


def text(
    target: Mapping[str, Any],
    field: str,
    *,
    max_length: int,
    default: str | None = None,
    allow_empty: bool = False,
) -> str:
    """A string member, without control characters; `default` when absent (required when the
    default is None)."""
    value = target.get(field)
    if value is None:
        if default is None:
            raise InvalidTarget(field, "is required")
        return default
    if not isinstance(value, str):
        raise InvalidTarget(field, "must be a string")
    if not value and not allow_empty:
        raise InvalidTarget(field, "must not be empty")
    if len(value) > max_length:
        raise InvalidTarget(field, f"must be at most {max_length} characters")
    if any(ord(character) < 0x20 or ord(character) == 0x7F for character in value):
        raise InvalidTarget(field, "must not contain control characters")
    return value


def optional_text(target: Mapping[str, Any], field: str, *, max_length: int) -> str | None:
    """A string member that may be absent or null (None then)."""
    if target.get(field) is None:
        return None
    return text(target, field, max_length=max_length)


def port(target: Mapping[str, Any], field: str, default: int) -> int:
    value = target.get(field, default)
    if value is None:
        return default
    # bool is an int in Python; `true` is not a port.
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise InvalidTarget(field, "must be a whole number from 1 to 65535")
    return value

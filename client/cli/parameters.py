"""Report parameters from the command line: a JSON file, --from/--to and --param KEY=VALUE."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from client.cli.exit_codes import UsageError
from client.models import ReportType

# The date-range pairs of the catalog, in the order --from/--to look for them.
DATE_RANGES = (("fromDate", "toDate"), ("createdFrom", "createdTo"))


def split_pair(pair: str) -> tuple[str, str]:
    key, separator, value = pair.partition("=")
    if not separator or not key:
        raise UsageError(f"--param {pair!r}: expected KEY=VALUE")
    return key, value


def load_file(path: str) -> dict[str, Any]:
    try:
        loaded = json.loads(Path(path).read_text())
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise UsageError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(loaded, dict):
        raise UsageError(f"{path} must hold a JSON object of parameters")
    return loaded


def _types(schema: Mapping[str, Any]) -> set[str]:
    declared = schema.get("type")
    if isinstance(declared, str):
        return {declared}
    return set(declared or [])


def coerce(value: str, schema: Mapping[str, Any]) -> Any:
    """A --param value as the JSON type its schema declares; a string when unsure.

    A value that does not convert stays a string, and the server's 422 names the field.
    """
    types = _types(schema)
    try:
        if "integer" in types:
            return int(value)
        if "number" in types:
            return float(value)
    except ValueError:
        return value
    if "boolean" in types and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if "array" in types:
        return [item for item in value.split(",") if item]
    return value


def date_range_keys(report_type: ReportType | None) -> tuple[str, str]:
    names = set(report_type.parameter_names) if report_type else set()
    for start, end in DATE_RANGES:
        if start in names:
            return start, end
    return DATE_RANGES[0]


def build(
    report_type: ReportType | None,
    *,
    file: str | None = None,
    pairs: Sequence[str] = (),
    from_date: str | None = None,
    to_date: str | None = None,
) -> dict[str, Any]:
    """The parameters to send; later sources win: the file, then --from/--to, then --param."""
    parameters: dict[str, Any] = load_file(file) if file else {}
    start_key, end_key = date_range_keys(report_type)
    if from_date is not None:
        parameters[start_key] = from_date
    if to_date is not None:
        parameters[end_key] = to_date
    properties = (report_type.parameters.get("properties") or {}) if report_type else {}
    for pair in pairs:
        key, value = split_pair(pair)
        parameters[key] = coerce(value, properties.get(key) or {})
    return parameters

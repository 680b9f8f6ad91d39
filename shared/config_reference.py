"""The configuration reference as Markdown, generated from the settings themselves."""

from __future__ import annotations

from dataclasses import MISSING, fields

from shared.config import DEFAULTS_SHOWN, DESCRIPTIONS, ENVIRONMENT, Settings


def default_shown(name: str) -> str:
    if name in DEFAULTS_SHOWN:
        return DEFAULTS_SHOWN[name]
    default = {item.name: item.default for item in fields(Settings)}[name]
    if default is None or default is MISSING or default == "":
        return "none"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    return f"`{default}`"


def settings_table() -> str:
    """One row per environment variable, in the order the settings declare them."""
    rows = ["| variable | setting | meaning | default |", "|---|---|---|---|"]
    for item in fields(Settings):
        variable = ENVIRONMENT.get(item.name)
        if variable is None:
            continue
        meaning, default = DESCRIPTIONS[item.name], default_shown(item.name)
        rows.append(f"| `{variable}` | `{item.name}` | {meaning} | {default} |")
    return "\n".join(rows)

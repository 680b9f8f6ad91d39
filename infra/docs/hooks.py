"""MkDocs hooks: pages whose facts live in the code are filled from the code at build time."""

from __future__ import annotations

from shared.config_reference import settings_table

SETTINGS_TABLE = "<!-- settings-table: generated from shared/config.py by infra/docs/hooks.py -->"


def on_page_markdown(markdown: str, **_: object) -> str:
    return markdown.replace(SETTINGS_TABLE, settings_table())

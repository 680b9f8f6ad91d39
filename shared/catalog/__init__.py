"""The report catalog: adding a report type is one module and one line here.

A deployment (or a test) can add types without touching this file: REPORT_TYPE_MODULES
names modules that each define REPORT_TYPE, and every process registers them at start.
"""

from __future__ import annotations

import importlib

from shared.catalog import popularity, sessions, users
from shared.catalog.base import EXPORT_FORMATS, Column, Query, ReportType

REPORT_TYPES: dict[str, ReportType] = {
    module.REPORT_TYPE.name: module.REPORT_TYPE for module in (sessions, users, popularity)
}


def get_report_type(name: str) -> ReportType | None:
    return REPORT_TYPES.get(name)


def register_modules(module_names: str) -> None:
    """Import each comma-separated module and register the REPORT_TYPE it defines."""
    for name in filter(None, (part.strip() for part in module_names.split(","))):
        report_type = importlib.import_module(name).REPORT_TYPE
        if not isinstance(report_type, ReportType):
            raise TypeError(f"{name}.REPORT_TYPE is not a ReportType")
        REPORT_TYPES[report_type.name] = report_type


__all__ = [
    "EXPORT_FORMATS",
    "REPORT_TYPES",
    "Column",
    "Query",
    "ReportType",
    "get_report_type",
    "register_modules",
]

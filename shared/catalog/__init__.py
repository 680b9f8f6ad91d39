"""The report catalog: adding a report type is one module and one line here."""

from __future__ import annotations

from shared.catalog import popularity, sessions, users
from shared.catalog.base import EXPORT_FORMATS, Column, Query, ReportType

REPORT_TYPES: dict[str, ReportType] = {
    module.REPORT_TYPE.name: module.REPORT_TYPE for module in (sessions, users, popularity)
}


def get_report_type(name: str) -> ReportType | None:
    return REPORT_TYPES.get(name)


__all__ = ["EXPORT_FORMATS", "REPORT_TYPES", "Column", "Query", "ReportType", "get_report_type"]

"""File formats a report can be written in: one small module per format."""

from __future__ import annotations

from shared.config import Settings
from worker.formats.base import ExportFormat
from worker.formats.csv import CsvFormat


def formats_for(settings: Settings) -> dict[str, ExportFormat]:
    """Every format by name, configured from the settings."""
    return {fmt.name: fmt for fmt in (CsvFormat(neutralize=settings.csv_neutralize_formulas),)}


FORMATS: dict[str, ExportFormat] = formats_for(Settings())  # the defaults: formulas neutralised

__all__ = ["FORMATS", "ExportFormat", "formats_for"]

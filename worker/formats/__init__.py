"""File formats a report can be written in: one small module per format."""

from __future__ import annotations

from shared.catalog import EXPORT_FORMATS
from shared.config import Settings
from worker.formats.base import ExportFormat, ExportRefused
from worker.formats.csv import CsvFormat
from worker.formats.csv_gzip import CsvGzipFormat
from worker.formats.json_rows import JsonArrayFormat, JsonLinesFormat
from worker.formats.pdf import PdfFormat
from worker.formats.xlsx import XlsxFormat


def formats_for(settings: Settings) -> dict[str, ExportFormat]:
    """Every format by name, configured from the settings."""
    csv = CsvFormat(neutralize=settings.csv_neutralize_formulas)
    formats: list[ExportFormat] = [
        csv,
        CsvGzipFormat(csv),
        JsonLinesFormat(),
        JsonArrayFormat(),
        XlsxFormat(),
        PdfFormat(max_rows=settings.pdf_max_rows),
    ]
    by_name = {fmt.name: fmt for fmt in formats}
    assert tuple(by_name) == EXPORT_FORMATS, "the catalog and the writers name the same formats"
    return by_name


FORMATS: dict[str, ExportFormat] = formats_for(Settings())  # the defaults: formulas neutralised

__all__ = ["FORMATS", "ExportFormat", "ExportRefused", "formats_for"]

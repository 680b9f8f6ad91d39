"""File formats a report can be written in: one small module per format."""

from __future__ import annotations

from worker.formats.base import ExportFormat
from worker.formats.csv import CsvFormat

FORMATS: dict[str, ExportFormat] = {fmt.name: fmt for fmt in (CsvFormat(),)}

__all__ = ["FORMATS", "ExportFormat"]

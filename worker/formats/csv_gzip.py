"""csv.gz: the CSV's very bytes, gzip-compressed chunk by chunk as they stream.

Stored and served as application/gzip with no Content-Encoding, so a browser saves the
compressed bytes whose sha256 the API reports instead of unpacking them on the way.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

import psycopg

from shared.catalog import Query
from worker.formats.base import RowCounter
from worker.formats.csv import CsvFormat

GZIP_LEVEL = 6  # gzip's own default: the size people expect for the time it takes
GZIP_CONTAINER = 16 + zlib.MAX_WBITS  # wbits that make zlib write gzip's header and trailer


class CsvGzipFormat:
    name = "csv.gz"
    extension = "csv.gz"
    content_type = "application/gzip"

    def __init__(self, csv: CsvFormat, level: int = GZIP_LEVEL) -> None:
        self.csv = csv
        self.level = level

    def stream(self, cursor: psycopg.Cursor, query: Query, counter: RowCounter) -> Iterator[bytes]:
        compressor = zlib.compressobj(self.level, zlib.DEFLATED, GZIP_CONTAINER)
        for chunk in self.csv.stream(cursor, query, counter):
            # zlib holds back what it has not yet packed, so this may be b"" now and then.
            yield compressor.compress(chunk)
        yield compressor.flush()

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

# Level 4, not gzip's default 6: measured on a million sessions, the file is 4 % larger
# (18.6 MB against 17.8 MB) and the export takes 1.55 s instead of 2.51 s, as fast as the
# plain CSV within noise. Level 6 spent most of a csv.gz export in deflate.
GZIP_LEVEL = 4
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

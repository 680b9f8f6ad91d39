"""The worker's "what people write" reference: pandas read_sql + to_csv, then one upload.

python -m tests.perf.pandas_reference FROM_DATE TO_DATE runs the very query the worker
runs (same SQL, same parameters), builds the whole CSV in memory as most hand-written
exporters do, uploads it with boto3's put_object to the same bucket, and prints one JSON
line: seconds, rows, bytes and peak RSS (VmHWM, as tests/perf/export_once.py reads it).
pandas is a bench-only dependency (the `bench` extra in pyproject.toml).
"""

from __future__ import annotations

import io
import json
import sys
import time
import uuid

import pandas
import psycopg

from shared.catalog import get_report_type
from shared.config import Settings
from shared.db import libpq_url
from tests.perf.export_once import peak_rss_kb
from tests.perf.stack import ORG
from tests.services import s3_client


def main() -> None:
    from_date, to_date = sys.argv[1:3]
    settings = Settings.from_env()
    query = get_report_type("sessions").query(ORG, {"fromDate": from_date, "toDate": to_date})
    client = s3_client(settings)
    started = time.perf_counter()
    with psycopg.connect(libpq_url(settings.source_database_url)) as connection:
        connection.execute("SELECT set_config('TimeZone', %s, false)", (query.timezone,))
        # pandas warns that it tests only SQLAlchemy connectables; psycopg works as DBAPI.
        frame = pandas.read_sql(query.sql, connection, params=query.params)
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    body = buffer.getvalue().encode()
    client.put_object(Bucket=settings.s3_bucket, Key=f"pandas/{uuid.uuid4()}.csv", Body=body)
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "seconds": round(seconds, 3),
                "rows": len(frame),
                "bytes": len(body),
                "max_rss_kb": peak_rss_kb(),
            }
        )
    )


if __name__ == "__main__":
    import warnings

    warnings.simplefilter("ignore", UserWarning)
    main()

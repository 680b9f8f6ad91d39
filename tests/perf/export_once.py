"""python -m tests.perf.export_once REPORT_ID: one export in a fresh process; prints JSON.

The Exporter is built as worker/__main__.py builds it, so the peak memory printed is that
of a worker that ran exactly this one export.

Peak memory is VmHWM from /proc/self/status. ru_maxrss would be wrong here: Linux carries
it over from the parent's address space through fork (or vfork) and exec, so a child of
the benchmark (about 140 MiB) never reports less than its parent. Both are printed.
"""

from __future__ import annotations

import json
import resource
import sys
import time
import uuid

from sqlalchemy import text

from shared.config import Settings
from shared.db import make_engine
from shared.logs import configure_logging
from shared.storage import Storage
from worker.exporter import Exporter, Outcome
from worker.formats import formats_for
from worker.lifecycle import Lifecycle


def peak_rss_kb() -> int:
    """The high-water mark of this process image's resident memory, in KiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


OUTCOME = text(
    "SELECT status, row_count, size_bytes, object_key, error_message FROM reports WHERE id = :id"
)


def main() -> None:
    report_id = uuid.UUID(sys.argv[1])
    settings = Settings.from_env()
    configure_logging("export_once", settings.log_level)
    pool_size = settings.worker_concurrency * 2 + 1
    engine = make_engine(settings, pool_size=pool_size)
    source = make_engine(
        settings, url=settings.source_database_url, pool_size=settings.worker_concurrency
    )
    lifecycle = Lifecycle(engine, settings.lease_seconds, settings.report_retention_hours * 3600)
    exporter = Exporter(
        lifecycle,
        source,
        Storage(settings),
        settings.progress_interval_seconds,
        formats=formats_for(settings),
    )

    started = time.perf_counter()
    result = exporter.process(report_id)
    seconds = time.perf_counter() - started

    with engine.connect() as connection:
        outcome = connection.execute(OUTCOME, {"id": report_id}).one()
    engine.dispose()
    source.dispose()
    if result is not Outcome.COMPLETED or outcome.status != "Completed":
        sys.exit(f"export ended {result} {outcome.status}: {outcome.error_message}")
    print(
        json.dumps(
            {
                "seconds": round(seconds, 3),
                "rows": outcome.row_count,
                "bytes": outcome.size_bytes,
                "object_key": outcome.object_key,
                "max_rss_kb": peak_rss_kb(),
                "ru_maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            }
        )
    )


if __name__ == "__main__":
    main()

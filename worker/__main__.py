"""python -m worker: build reports from the work queue until SIGTERM."""

import signal
import threading

from shared.catalog import register_modules
from shared.config import settings_or_exit
from shared.db import make_engine
from shared.health import Readiness, start_if_configured
from shared.logs import configure_logging
from shared.storage import Storage
from worker.exporter import Exporter
from worker.formats import formats_for
from worker.lifecycle import Lifecycle
from worker.worker import Worker


def main() -> None:
    settings = settings_or_exit()
    configure_logging("worker", settings.log_level, settings.log_format)
    register_modules(settings.report_type_modules)
    # One connection per export thread, plus one for each thread's lease keeper.
    pool_size = settings.worker_concurrency * 2 + 1
    engine = make_engine(
        settings, statement_timeout_ms=settings.db_statement_timeout_ms, pool_size=pool_size
    )
    # The export's own transaction raises its statement timeout to the maximum export time.
    source = make_engine(
        settings,
        url=settings.source_database_url,
        statement_timeout_ms=settings.db_statement_timeout_ms,
        pool_size=settings.worker_concurrency,
    )
    lifecycle = Lifecycle(
        engine,
        settings.lease_seconds,
        settings.report_retention_hours * 3600,
        settings.max_attempts,
    )
    stopping = threading.Event()
    exporter = Exporter(
        lifecycle,
        source,
        Storage(settings),
        settings.progress_interval_seconds,
        formats=formats_for(settings),
        max_export_seconds=settings.max_export_seconds,
    )
    readiness = Readiness(engine)
    stop_health = start_if_configured(settings.metrics_port, readiness)
    worker = Worker(settings, exporter, stopping, on_broker=readiness.broker_connected)
    signal.signal(signal.SIGTERM, lambda *_: worker.stop())
    signal.signal(signal.SIGINT, lambda *_: worker.stop())
    worker.run()
    # Leaving already: a second SIGTERM must not kill the interpreter while it finalizes
    # (Python restores the default action for its own handlers then, not for SIG_IGN).
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stop_health()
    engine.dispose()
    source.dispose()


if __name__ == "__main__":
    main()

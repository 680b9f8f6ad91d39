"""python -m relay: publish outbox rows to RabbitMQ, run report definitions at their
instants, re-enqueue stuck reports and sweep expired ones, until SIGTERM (the batch in hand
is published and committed first)."""

import signal
import threading

from prometheus_client import REGISTRY

from relay.metrics import OutboxCollector
from relay.relay import Relay
from relay.scheduler import Scheduler
from relay.sweeper import Sweeper
from shared.config import settings_or_exit
from shared.db import make_engine, make_session_factory
from shared.health import Readiness, start_if_configured
from shared.logs import configure_logging
from shared.storage import Storage


def main() -> None:
    settings = settings_or_exit()
    configure_logging("relay", settings.log_level, settings.log_format)
    engine = make_engine(
        settings, statement_timeout_ms=settings.db_statement_timeout_ms, pool_size=4
    )
    sessions = make_session_factory(engine)
    readiness = Readiness(engine)
    REGISTRY.register(OutboxCollector(sessions))
    stop_health = start_if_configured(settings.metrics_port, readiness)
    relay = Relay(settings, sessions, on_broker=readiness.broker_connected)
    # The sweep (and the stuck-report check) rides along in the relay process, which already
    # runs wherever Reportbox does.
    sweeper = Sweeper(settings, sessions, Storage(settings))
    sweep_thread = threading.Thread(target=sweeper.run, name="sweeper", daemon=True)
    # Every relay schedules too: no leader, the due definitions are shared by SKIP LOCKED.
    scheduler = Scheduler(settings, engine)
    schedule_thread = threading.Thread(target=scheduler.run, name="scheduler", daemon=True)

    def stop(*_: object) -> None:
        scheduler.stop()
        sweeper.stop()
        relay.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sweep_thread.start()
    schedule_thread.start()
    relay.run()
    # Leaving already: a second SIGTERM must not kill the interpreter while it finalizes
    # (Python restores the default action for its own handlers then, not for SIG_IGN).
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sweep_thread.join(timeout=30)
    schedule_thread.join(timeout=30)
    stop_health()
    engine.dispose()


if __name__ == "__main__":
    main()

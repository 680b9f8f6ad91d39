"""python -m relay: publish outbox rows to RabbitMQ, re-enqueue stuck reports and sweep
expired ones, until SIGTERM (the batch in hand is published and committed first)."""

import signal
import threading

from relay.relay import Relay
from relay.sweeper import Sweeper
from shared.config import settings_or_exit
from shared.db import make_engine, make_session_factory
from shared.logs import configure_logging
from shared.storage import Storage


def main() -> None:
    settings = settings_or_exit()
    configure_logging("relay", settings.log_level, settings.log_format)
    engine = make_engine(
        settings, statement_timeout_ms=settings.db_statement_timeout_ms, pool_size=3
    )
    sessions = make_session_factory(engine)
    relay = Relay(settings, sessions)
    # The sweep (and the stuck-report check) rides along in the relay process, which already
    # runs wherever Reportbox does.
    sweeper = Sweeper(settings, sessions, Storage(settings))
    sweep_thread = threading.Thread(target=sweeper.run, name="sweeper", daemon=True)

    def stop(*_: object) -> None:
        sweeper.stop()
        relay.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sweep_thread.start()
    relay.run()
    sweep_thread.join(timeout=30)
    engine.dispose()


if __name__ == "__main__":
    main()

"""python -m relay: publish outbox rows to RabbitMQ until SIGTERM."""

import signal

from relay.relay import Relay
from shared.config import Settings
from shared.db import make_engine, make_session_factory
from shared.logs import configure_logging


def main() -> None:
    settings = Settings.from_env()
    configure_logging("relay", settings.log_level)
    engine = make_engine(settings, pool_size=2)
    relay = Relay(settings, make_session_factory(engine))
    signal.signal(signal.SIGTERM, lambda *_: relay.stop())
    signal.signal(signal.SIGINT, lambda *_: relay.stop())
    relay.run()
    engine.dispose()


if __name__ == "__main__":
    main()

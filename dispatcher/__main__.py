"""python -m dispatcher: send webhook messages and deliveries until SIGTERM (the attempts in
hand finish and are recorded first). The two have loops and threads of their own."""

import logging
import signal
import threading

from dispatcher.deliveries import DeliveryLoop
from dispatcher.dispatcher import Dispatcher, presigner
from dispatcher.sender import Sender
from shared.config import settings_or_exit
from shared.db import make_engine
from shared.deliveries.email_kind import KIND as EMAIL
from shared.deliveries.kinds import kinds_for
from shared.health import Readiness, start_if_configured
from shared.logs import configure_logging
from shared.storage import Storage
from shared.webhooks.addresses import parse_networks

log = logging.getLogger("dispatcher")
WEBHOOK_RECORD_CONNECTIONS = 8


def main() -> None:
    settings = settings_or_exit()
    configure_logging("dispatcher", settings.log_level, settings.log_format)
    if not settings.delivery_secrets_key:
        # Said once at the start: every webhook message then waits, unsent, for the key.
        log.error("dispatcher.no_secrets_key webhooks cannot be signed: DELIVERY_SECRETS_KEY")
    # Delivered webhook attempts are recorded a batch at a time by one thread (group commit),
    # so the webhook threads share a few connections (failures record one each, briefly); one
    # per delivery thread, and one for each loop's claims.
    engine = make_engine(
        settings,
        statement_timeout_ms=settings.db_statement_timeout_ms,
        pool_size=min(settings.dispatcher_concurrency, WEBHOOK_RECORD_CONNECTIONS)
        + settings.delivery_concurrency
        + 2,
    )
    readiness = Readiness(engine)
    readiness.broker_connected(True)  # the dispatcher's queue is its table: no broker
    stop_health = start_if_configured(settings.metrics_port, readiness)
    sender = Sender(
        settings.webhook_allow_http,
        parse_networks(settings.webhook_allowed_cidrs),
        settings.webhook_timeout_seconds,
    )
    storage = Storage(settings)
    presign = presigner(storage, settings.download_url_ttl_seconds)
    dispatcher = Dispatcher(settings, engine, sender, presign)
    EMAIL.configure(settings)
    deliveries = DeliveryLoop(
        settings, engine, storage.bucket, storage.open_object, kinds=kinds_for(settings)
    )

    def stop() -> None:
        dispatcher.stop()
        deliveries.stop()

    signal.signal(signal.SIGTERM, lambda *_: stop())
    signal.signal(signal.SIGINT, lambda *_: stop())
    delivering = threading.Thread(target=deliveries.run, name="deliveries")
    delivering.start()
    dispatcher.run()
    delivering.join()
    # Leaving already: a second SIGTERM must not kill the interpreter while it finalizes.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stop_health()
    engine.dispose()


if __name__ == "__main__":
    main()

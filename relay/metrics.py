"""The relay's metrics. The outbox figures are read from the database at each scrape, so they
are right whichever relay is scraped, and however many run."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from shared.db import DatabaseUnavailable, translate_errors

log = logging.getLogger(__name__)

CONFIRMS = Counter("reportbox_relay_confirms", "Messages the broker confirmed and routed.")
UNCONFIRMED = Counter(
    "reportbox_relay_unconfirmed",
    "Messages returned as unroutable, nacked, or left without a confirm (sent again later).",
)
PUBLISH_LATENCY = Histogram(
    "reportbox_relay_publish_latency_seconds",
    "From the outbox row's commit to the broker's confirm of its message.",
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)

# Served by the partial index outbox_unpublished, like the relay's own claim.
PENDING = text(
    """
    SELECT count(*) AS pending,
           coalesce(extract(epoch FROM now() - min(created_at)), 0) AS oldest_seconds
    FROM outbox WHERE published_at IS NULL
    """
)


class OutboxCollector(Collector):
    """reportbox_outbox_pending and the age of the oldest: the figure to alert on."""

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._sessions = session_factory

    def collect(self) -> Iterator[Metric]:
        try:
            with translate_errors(), self._sessions() as session:
                row = session.execute(PENDING).one()
        except DatabaseUnavailable as exc:
            log.warning("metrics.outbox_unavailable error=%s", exc)
            return
        yield GaugeMetricFamily(
            "reportbox_outbox_pending", "Outbox rows not yet published.", value=row.pending
        )
        yield GaugeMetricFamily(
            "reportbox_outbox_oldest_pending_age_seconds",
            "Age of the oldest unpublished outbox row (0 when none).",
            value=float(row.oldest_seconds),
        )

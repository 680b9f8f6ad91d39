"""The API's metrics at /metrics, right across gunicorn's worker processes.

Under gunicorn, api/gunicorn_config.py points PROMETHEUS_MULTIPROC_DIR at a fresh folder
before the workers fork, and every worker writes its samples there; a scrape, whichever
worker answers it, adds them up. Report counts by status come from the database at each
scrape. No label carries a tenant or a user.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, text

from shared.db import DatabaseUnavailable, translate_errors

log = logging.getLogger(__name__)

REQUEST_SECONDS = Histogram(
    "reportbox_http_request_duration_seconds",
    "API requests by route template, method and status.",
    ["route", "method", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
REPORTS_CREATED = Counter(
    "reportbox_reports_created", "Reports accepted (202), by type and format.", ["type", "format"]
)

# Every report by status, type and format: created, completed, failed, cancelled, expired.
REPORT_COUNTS = text(
    "SELECT status, report_type, format, count(*) AS n FROM reports GROUP BY 1, 2, 3"
)

blueprint = Blueprint("metrics", __name__)


class ReportsCollector(Collector):
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def collect(self) -> Iterator[Metric]:
        try:
            with translate_errors(), self._engine.connect() as connection:
                rows = connection.execute(REPORT_COUNTS).all()
        except DatabaseUnavailable as exc:
            log.warning("metrics.reports_unavailable error=%s", exc)
            return
        family = GaugeMetricFamily(
            "reportbox_reports",
            "Reports by status, type and format.",
            labels=["status", "type", "format"],
        )
        for row in rows:
            family.add_metric([row.status, row.report_type, row.format], row.n)
        yield family


@blueprint.get("/metrics")
def metrics() -> Response:
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        processes = CollectorRegistry()
        multiprocess.MultiProcessCollector(processes)
    else:
        processes = REGISTRY  # one process: the Flask development server, the tests
    reports = CollectorRegistry(auto_describe=False)
    reports.register(ReportsCollector(current_app.extensions["reportbox"].engine))
    body = generate_latest(processes) + generate_latest(reports)
    return Response(body, mimetype=CONTENT_TYPE_LATEST)


def instrument(app: Flask) -> None:
    """Time every request by its route template (never its path: ids are not labels)."""

    @app.before_request
    def _start_timer() -> None:
        g.request_started = time.perf_counter()

    @app.after_request
    def _observe(response: Response) -> Response:
        started = g.get("request_started")
        if started is not None:
            route = request.url_rule.rule if request.url_rule is not None else "unmatched"
            REQUEST_SECONDS.labels(route, request.method, str(response.status_code)).observe(
                time.perf_counter() - started
            )
        return response

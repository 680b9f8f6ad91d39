"""The API's metrics at /metrics, right across gunicorn's worker processes.

Under gunicorn, api/gunicorn_config.py points PROMETHEUS_MULTIPROC_DIR at a fresh folder
before the workers fork, and every worker writes its samples there; a scrape, whichever
worker answers it, adds them up. Reports in flight come from the database, at most once per
METRICS_CACHE_SECONDS (api/active_reports.py); reports by outcome are counters
(shared/report_counters.py). No label carries a tenant or a user, and none takes a value
the client chose: the route is its template, the method one of a fixed few.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Histogram,
    generate_latest,
    multiprocess,
)
from sqlalchemy import Engine

from api.active_reports import ActiveReports, ActiveReportsCollector

REQUEST_SECONDS = Histogram(
    "reportbox_http_request_duration_seconds",
    "API requests by route template, method and status.",
    ["route", "method", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)

# Any other method a client makes up is "other": each label value is a series in every
# worker's files, kept for as long as the API runs.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED_ROUTE = "unmatched"  # every path no route matches, whatever it is

blueprint = Blueprint("metrics", __name__)


def method_label(method: str) -> str:
    return method if method in METHODS else "other"


def active_reports(engine: Engine, max_age: float) -> ActiveReports:
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return ActiveReports(engine, max_age, Path(folder) if folder else None)


@blueprint.get("/metrics")
def metrics() -> Response:
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        processes = CollectorRegistry()
        multiprocess.MultiProcessCollector(processes)
    else:
        processes = REGISTRY  # one process: the Flask development server, the tests
    reports = CollectorRegistry(auto_describe=False)
    reports.register(ActiveReportsCollector(current_app.extensions["reportbox"].active_reports))
    body = generate_latest(processes) + generate_latest(reports)
    return Response(body, mimetype=CONTENT_TYPE_LATEST)


def instrument(app: Flask) -> None:
    """Time every request by its route template (never its path: ids are not labels).

    Called before any other hook is registered: a hook that answers (401 from the token
    check, 413 from the body's) stops the ones after it, and the timer must have started.
    """

    @app.before_request
    def _start_timer() -> None:
        g.request_started = time.perf_counter()

    @app.after_request
    def _observe(response: Response) -> Response:
        started = g.get("request_started")
        if started is not None:
            route = request.url_rule.rule if request.url_rule is not None else UNMATCHED_ROUTE
            REQUEST_SECONDS.labels(
                route, method_label(request.method), str(response.status_code)
            ).observe(time.perf_counter() - started)
        return response

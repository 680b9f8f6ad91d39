"""The Flask application factory: gunicorn 'api.app:create_app()'."""

from __future__ import annotations

import logging

from flask import Flask, g, request

from api import health, metrics, page, report_types
from api.auth import TokenVerifier
from api.bodies import parse_json_body
from api.definitions import views as definitions
from api.dependencies import EXTENSION, Dependencies
from api.errors import register_error_handlers
from api.openapi import views as openapi
from api.page import demo
from api.reports import views as reports
from shared.catalog import register_modules
from shared.config import Settings, settings_or_exit
from shared.db import make_engine, make_session_factory
from shared.logs import configure_logging
from shared.storage import Storage

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024  # larger bodies are refused with 413
# Served without a token; the OpenAPI document reads them from app.config, as does
# _authenticate. A new blueprint lists its public endpoints here (most have none).
PUBLIC_ENDPOINTS = frozenset(
    {
        "health.healthz",
        "health.readyz",
        "metrics.metrics",
        *openapi.PUBLIC_ENDPOINTS,
        *page.PUBLIC_ENDPOINTS,
    }
)


def create_app(settings: Settings | None = None) -> Flask:
    if settings is None:
        settings = settings_or_exit()
        configure_logging("api", settings.log_level, settings.log_format)
    if settings.dev_mode:
        # Said at every start: a production deployment that inherited the flag must notice.
        log.warning(
            "api.dev_mode_on demo_sign_in=%s: DEV_MODE=true accepts the published development "
            "JWT secrets and, with one of them, offers demo sign-in on the page; never set it "
            "in production",
            demo.demo_enabled(settings),
        )
    register_modules(settings.report_type_modules)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.config["PUBLIC_ENDPOINTS"] = public = PUBLIC_ENDPOINTS
    engine = make_engine(settings, statement_timeout_ms=settings.api_statement_timeout_ms)
    source = engine
    if settings.source_database_url != settings.database_url:
        source = make_engine(
            settings,
            url=settings.source_database_url,
            statement_timeout_ms=settings.api_statement_timeout_ms,
        )
    app.extensions[EXTENSION] = Dependencies(
        settings=settings,
        engine=engine,
        source=source,
        sessions=make_session_factory(engine),
        storage=Storage(settings),
        tokens=TokenVerifier(settings),
        active_reports=metrics.active_reports(engine, settings.metrics_cache_seconds),
    )
    metrics.instrument(app)  # first: every answer is timed, a refusal by the hooks below too

    @app.before_request
    def _authenticate() -> None:
        # Every endpoint needs a token unless it is listed as public; unknown paths 404 first.
        if request.endpoint is None or request.endpoint in public:
            return
        g.principal = app.extensions[EXTENSION].tokens.authenticate(request)

    @app.before_request
    def _parse_json_body() -> None:
        # After authentication: nobody without a token gets their body read.
        if request.endpoint is not None:
            parse_json_body(request, MAX_BODY_BYTES)

    register_error_handlers(app)
    for blueprint in (
        health.blueprint,
        metrics.blueprint,
        report_types.blueprint,
        reports.blueprint,
        definitions.blueprint,
        openapi.blueprint,
        page.blueprint,
    ):
        app.register_blueprint(blueprint)
    return app

"""Every error leaves the API as RFC 9457 problem details (application/problem+json)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, json
from werkzeug.exceptions import HTTPException

from shared.db import DatabaseUnavailable

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


class ApiError(Exception):
    """An expected failure with an HTTP status, raised anywhere below a view."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        errors: Mapping[str, list[str]] | None = None,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = errors
        self.headers = dict(headers or {})
        self.extra = extra


def problem(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    errors: Mapping[str, list[str]] | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> Response:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    body.update(extra)
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
    response.headers.update(headers or {})
    return response


def flatten_messages(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested error dict as {"parameters.fromDate": ["..."]}."""
    if isinstance(messages, Mapping):
        flat: dict[str, list[str]] = {}
        for key, value in messages.items():
            name = str(key) if key != "_schema" else ""
            flat.update(
                flatten_messages(value, f"{prefix}.{name}" if prefix and name else prefix or name)
            )
        return flat
    if isinstance(messages, list) and all(isinstance(message, str) for message in messages):
        return {prefix or "_body": list(messages)}
    return {prefix or "_body": [str(messages)]}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(error: ApiError) -> Response:
        return problem(
            error.status,
            error.title,
            error.detail,
            errors=error.errors,
            headers=error.headers,
            **error.extra,
        )

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response:
        if error.code is not None and error.code < 400:
            return error.get_response()  # a routing redirect (308 to the slashed URL) is no error
        # Keeps what werkzeug adds for the client (Allow on a 405), not its HTML content type.
        headers = {name: value for name, value in error.get_headers() if name != "Content-Type"}
        return problem(error.code or 500, error.name, error.description, headers=headers)

    @app.errorhandler(DatabaseUnavailable)
    def _database_unavailable(error: DatabaseUnavailable) -> Response:
        log.warning("api.database_unavailable error=%s", error)
        return problem(
            503,
            "Service Unavailable",
            "The database is unavailable; nothing was written. Try again shortly.",
            headers={"Retry-After": "5"},
        )

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        # The traceback goes to the log; the client learns nothing about the code or the data.
        log.exception("api.unexpected_error")
        return problem(500, "Internal Server Error", "Something went wrong on our side.")

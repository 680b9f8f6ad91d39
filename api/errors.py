"""Every error leaves the API as RFC 9457 problem details (application/problem+json).

Services raise the domain's refusals (shared/errors.py), never HTTP. ANSWERS below maps
each refusal class to its status, title and the members and headers its data gives, and
one handler (register_error_handlers) writes every answer from it. A view therefore never
catches a refusal: it loads the request, calls one service function and dumps the result.

To add a refusal: its class in shared/errors.py, then its row here, e.g.

    WebhookUnreachable: Answer(422, "Unprocessable Content", members=_field_errors),

tests/unit/test_domain_errors.py fails while a DomainError subclass has no row.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import werkzeug
from flask import Flask, Response, json
from werkzeug.exceptions import HTTPException

from shared.db import DatabaseUnavailable
from shared.errors import (
    NOT_ASYNCHRONOUS,
    AdminRequired,
    AdmittedConcurrently,
    AlreadyFinished,
    DefinitionNameTaken,
    DefinitionNotFound,
    DeliveryNotFound,
    DomainError,
    DuplicateActive,
    Gone,
    IdempotencyKeyReused,
    InvalidParameters,
    MalformedBody,
    NotAllowed,
    NotAsynchronous,
    NotAuthenticated,
    NotFinished,
    NotSynchronous,
    RateLimited,
    ReportNotFound,
    SyncTimedOut,
    TooManyActive,
    TooManyRowsForSync,
    UnknownReportType,
    WebhookEndpointDisabled,
    WebhookEndpointNotFound,
    WebhookMessageNotFound,
    WebhookSecretsUnavailable,
)

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


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


def _nothing(error: Any) -> dict[str, Any]:
    return {}


def _field_errors(error: InvalidParameters) -> dict[str, Any]:
    return {"errors": error.field_errors}


def _retry_after(error: TooManyActive | RateLimited) -> dict[str, str]:
    return {"Retry-After": str(error.retry_after_seconds)}


def _existing_report(error: DuplicateActive) -> dict[str, Any]:
    return {"existingReportId": str(error.existing_report_id)}


def _bearer_challenge(error: NotAuthenticated) -> dict[str, str]:
    # Every refusal of a token, a missing one included, carries the same challenge.
    return {"WWW-Authenticate": 'Bearer error="invalid_token"'}


def _not_asynchronous(error: NotAsynchronous) -> dict[str, Any]:
    return {"error": NOT_ASYNCHRONOUS}  # the title again, where US-094 shows it


def _sync_cap(error: TooManyRowsForSync) -> dict[str, Any]:
    return {"errors": {"deliveries": [f"sync holds at most {error.max_rows:,} rows"]}}


@dataclass(frozen=True)
class Answer:
    """How one refusal is answered: its status and title; members and headers from its data."""

    status: int
    title: str
    members: Callable[[Any], dict[str, Any]] = _nothing  # beside type/title/status/detail
    headers: Callable[[Any], dict[str, str]] = _nothing


UNPROCESSABLE = Answer(422, "Unprocessable Content", members=_field_errors)
TOO_MANY = Answer(429, "Too Many Requests", headers=_retry_after)

# One row per refusal class (exact class, not its bases: each is answered on purpose).
ANSWERS: dict[type[DomainError], Answer] = {
    NotAuthenticated: Answer(401, "Unauthorized", headers=_bearer_challenge),
    MalformedBody: Answer(400, "Bad Request"),
    InvalidParameters: UNPROCESSABLE,
    IdempotencyKeyReused: UNPROCESSABLE,
    UnknownReportType: Answer(404, "Not Found"),
    NotAllowed: Answer(403, "Forbidden"),
    DuplicateActive: Answer(409, "Conflict", members=_existing_report),
    AdmittedConcurrently: Answer(409, "Conflict"),
    TooManyActive: TOO_MANY,
    RateLimited: TOO_MANY,
    ReportNotFound: Answer(404, "Not Found"),
    AlreadyFinished: Answer(409, "Conflict"),
    NotFinished: Answer(409, "Conflict"),
    Gone: Answer(410, "Gone"),
    DefinitionNotFound: Answer(404, "Not Found"),
    DefinitionNameTaken: Answer(409, "Conflict"),
    NotAsynchronous: Answer(409, NOT_ASYNCHRONOUS, members=_not_asynchronous),
    NotSynchronous: Answer(409, "Conflict"),
    TooManyRowsForSync: Answer(422, "Unprocessable Content", members=_sync_cap),
    SyncTimedOut: Answer(504, "Gateway Timeout"),
    AdminRequired: Answer(403, "Forbidden"),
    WebhookEndpointNotFound: Answer(404, "Not Found"),
    WebhookMessageNotFound: Answer(404, "Not Found"),
    DeliveryNotFound: Answer(404, "Not Found"),
    WebhookEndpointDisabled: Answer(409, "Conflict"),
    WebhookSecretsUnavailable: Answer(503, "Service Unavailable"),
}


def answer_for(error: DomainError) -> Answer:
    return ANSWERS[type(error)]


def refusal_problem(error: DomainError) -> Response:
    """The problem details that answer a refusal."""
    answer = answer_for(error)
    return problem(
        answer.status,
        answer.title,
        error.detail,
        headers=answer.headers(error),
        **answer.members(error),
    )


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
    @app.errorhandler(DomainError)
    def _refused(error: DomainError) -> Response:
        return refusal_problem(error)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> werkzeug.Response:  # get_response()'s own class
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

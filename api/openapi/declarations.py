"""What a view declares about itself for the OpenAPI document: one decorator per view.

The declaration sits on the view function, next to the code that answers, and the spec
builder (api/openapi/spec.py) refuses to build while any /api/v1 route lacks one. What the
whole app enforces (the bearer token, the JSON body parser) is not declared here: the builder
derives it from the app itself, so it cannot drift either.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from marshmallow import Schema, fields

View = TypeVar("View", bound=Callable[..., Any])

JSON = "application/json"
HTML = "text/html"


@dataclass(frozen=True)
class Header:
    name: str
    description: str
    schema: Mapping[str, Any]
    required: bool = True

    def as_optional(self) -> Header:
        return Header(self.name, self.description, self.schema, required=False)


@dataclass(frozen=True)
class Success:
    status: int
    description: str
    schema: type[Schema] | Mapping[str, Any] | None = None
    content_type: str = JSON
    headers: tuple[Header, ...] = ()
    # A file in the body instead of a schema: the media types it may come in.
    file_types: tuple[str, ...] = ()


@dataclass(frozen=True)
class Operation:
    summary: str
    success: Success
    # Status → when the view answers it; each is a problem+json body.
    errors: Mapping[int, str] = field(default_factory=dict)
    description: str = ""
    tag: str = "reports"
    query: type[Schema] | None = None
    body: type[Schema] | None = None  # the JSON request body the view loads, if any
    request_headers: tuple[Header, ...] = ()
    # The view's one path variable names a report type: the document has one path per type,
    # each with its own request body, whose `parameters` are that type's parameter schema.
    per_report_type: bool = False


@dataclass(frozen=True)
class Hidden:
    """A route under /api/v1 that is not an operation (the docs page's static files)."""

    reason: str


def documented(operation: Operation | Hidden) -> Callable[[View], View]:
    def mark(view: View) -> View:
        view.openapi = operation  # type: ignore[attr-defined]
        return view

    return mark


def declaration(view: Callable[..., Any]) -> Operation | Hidden | None:
    return getattr(view, "openapi", None)


# The headers the API sends or reads, each described once.
LOCATION = Header(
    "Location", "The report's status URL: poll it.", {"type": "string", "format": "uri"}
)
DOWNLOAD_LOCATION = Header(
    "Location",
    "A presigned URL of the file, valid for DOWNLOAD_URL_TTL_SECONDS at most.",
    {"type": "string", "format": "uri"},
)
RETRY_AFTER = Header(
    "Retry-After", "Seconds to wait before asking again.", {"type": "integer", "minimum": 0}
)
IDEMPOTENT_REPLAYED = Header(
    "Idempotent-Replayed",
    "Present when this answer repeats the first one given for the same Idempotency-Key.",
    {"type": "string", "enum": ["true"]},
    required=False,
)
NO_STORE = Header(
    "Cache-Control",
    "Each visit presigns anew; never cached.",
    {"type": "string", "const": "no-store"},
)
CONTENT_DISPOSITION = Header(
    "Content-Disposition",
    "attachment, with the file's name.",
    {"type": "string", "pattern": "^attachment"},
)
WWW_AUTHENTICATE = Header(
    "WWW-Authenticate", "The bearer challenge.", {"type": "string", "pattern": "^Bearer"}
)


def idempotency_key(max_length: int) -> Header:
    """The request header that makes a retried POST safe; HTTP trims outer spaces."""
    return Header(
        "Idempotency-Key",
        "Any client-chosen key: a retry with the same key and the same request gets the first "
        "answer again (with Idempotent-Replayed: true); the same key with another request is 422.",
        {
            "type": "string",
            "minLength": 1,
            "maxLength": max_length,
            "pattern": "^[!-~]([ -~]*[!-~])?$",
        },
        required=False,
    )


# What each error status means wherever it is answered, and the headers that come with it.
ERROR_TITLES: dict[int, str] = {
    400: "The body is not valid JSON, nests too deep, or its framing is broken.",
    401: "No valid bearer token.",
    403: "The token's roles do not allow this.",
    404: "Not found.",
    409: "Conflict with the report's present state.",
    504: "The answer was not ready in time.",
    410: "Gone.",
    413: "The body is larger than the API accepts.",
    415: "The body is not application/json.",
    422: "The request has invalid fields, named in `errors`.",
    429: "Too many reports Pending or Processing for this user.",
    503: "The database is unavailable; nothing was written.",
}
ERROR_HEADERS: dict[int, tuple[Header, ...]] = {
    401: (WWW_AUTHENTICATE,),
    429: (RETRY_AFTER,),
    503: (RETRY_AFTER,),
}


class ProblemSchema(Schema):
    """RFC 9457 problem details, as api/errors.py: problem() writes them."""

    type = fields.String(required=True, metadata={"description": "Always about:blank."})
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String()
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={"description": 'What is wrong with each field: {"parameters.fromDate": [...]}.'},
    )
    error = fields.String(
        metadata={"description": "On a 409 from generate (US-094 AC-003): the title, repeated."},
    )
    existing_report_id = fields.UUID(
        data_key="existingReportId",
        metadata={"description": "On a 409 for a duplicate: the report already under way."},
    )

"""Request bodies: read once, within the size limit however they were framed, parsed as JSON."""

from __future__ import annotations

from flask import Request
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge

from api.errors import ApiError

BODY_METHODS = {"POST", "PUT", "PATCH"}


def parse_json_body(request: Request, max_bytes: int) -> None:
    """Read and parse a JSON body before any view, which then gets the cached result.

    A body over max_bytes is a 413, malformed JSON a 400 that says so. A body that is not JSON
    at all is left to the view: request.get_json() answers it with 415.
    """
    if request.method not in BODY_METHODS or not request.is_json:
        return
    data = request.get_data()  # raises 413 at once when Content-Length is over the limit
    if request.content_length is None and len(data) >= max_bytes and _more_to_read(request):
        # A chunked body has no Content-Length; werkzeug stops reading at the limit and hands
        # over what it read, which would pass for a short body (or fail as malformed JSON).
        raise RequestEntityTooLarge()
    try:
        request.get_json()
    except BadRequest as exc:
        raise ApiError(400, "Bad Request", "The body is not valid JSON.") from exc


def _more_to_read(request: Request) -> bool:
    return bool(request.environ["wsgi.input"].read(1))

"""Request bodies: read once, within the size limit however they were framed, parsed as JSON."""

from __future__ import annotations

from typing import Any

from flask import Request
from werkzeug.exceptions import BadRequest, HTTPException, RequestEntityTooLarge

from shared.errors import MalformedBody

BODY_METHODS = {"POST", "PUT", "PATCH"}
MAX_DEPTH = 32  # nesting of arrays and objects; no request of ours needs more than three


def parse_json_body(request: Request, max_bytes: int) -> None:
    """Read and parse a JSON body before any view, which then gets the cached result.

    A body over max_bytes is a 413, malformed JSON a 400 that says so. A body that is not JSON
    at all is left to the view: request.get_json() answers it with 415.
    """
    if request.method not in BODY_METHODS or not request.is_json:
        return
    try:
        data = request.get_data()  # raises 413 at once when Content-Length is over the limit
        if request.content_length is None and len(data) >= max_bytes and _more_to_read(request):
            # A chunked body has no Content-Length; werkzeug stops reading at the limit and
            # hands over what it read, which would pass for a short body.
            raise RequestEntityTooLarge()
    except HTTPException:
        raise
    except Exception as exc:
        # The server's own parser refused the framing (gunicorn: a malformed chunk size):
        # the client sent it, so it is the client's error, not ours.
        raise MalformedBody("The body could not be read: bad framing.") from exc
    try:
        body = request.get_json()
    except (BadRequest, RecursionError) as exc:
        raise MalformedBody("The body is not valid JSON.") from exc
    if not _depth_within(body, MAX_DEPTH):
        raise MalformedBody(f"The body nests deeper than {MAX_DEPTH} levels.")


def _depth_within(value: Any, limit: int) -> bool:
    """Iterative, so a deep body cannot exhaust the stack of whoever walks it later."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return False
            children = item.values() if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
    return True


def _more_to_read(request: Request) -> bool:
    return bool(request.environ["wsgi.input"].read(1))

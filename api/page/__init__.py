"""The web page for people at `/`: one HTML document, plain JavaScript, the public /api/v1.

The page has no endpoint of its own beyond the document and its static files: everything it
shows comes from /api/v1 with the token the person pasted (kept in sessionStorage by the
script). In development it also carries demo tokens (api/page/demo.py).
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, render_template

from api.page import demo
from api.page.csp import content_security_policy, origin_of
from shared.webhooks.payload import EVENT_TYPES

blueprint = Blueprint(
    "page",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/assets",  # /static is the app's own (empty) static route
)

# Served without a token: the document and its assets hold no data, only the means to ask.
PUBLIC_ENDPOINTS = frozenset({"page.index", "page.static"})


@blueprint.get("/")
def index() -> Response:
    settings = current_app.extensions["reportbox"].settings
    response = Response(
        render_template(
            "index.html",
            demo_users=demo.demo_sign_ins(settings),
            # The webhook form offers the events the API takes: one list, in the API's code.
            webhook_event_types=EVENT_TYPES,
        ),
        mimetype="text/html",
    )
    # The document may embed demo tokens: never cached, never stored by a proxy.
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.after_request
def _page_headers(response: Response) -> Response:
    storage = current_app.extensions["reportbox"].storage
    response.headers["Content-Security-Policy"] = content_security_policy(
        origin_of(storage.presign_download("origin-probe", "probe", "text/plain", 60))
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response

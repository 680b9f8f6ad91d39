"""/api/v1/openapi.json and the Swagger UI page /api/v1/docs, both public.

The page's scripts and styles are flask-swagger-ui's copy of Swagger UI, served from the
installed package, and our own docs.js that starts it: the page needs no network beyond this
API, has no inline script, and gets the same protective headers as the web page.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    render_template_string,
    send_from_directory,
    url_for,
)

from api.openapi.declarations import HTML, Hidden, Operation, Success, documented
from api.openapi.spec import build_spec
from api.page.csp import docs_content_security_policy

blueprint = Blueprint("openapi", __name__, url_prefix="/api/v1")

PUBLIC_ENDPOINTS = frozenset(
    {"openapi.spec", "openapi.docs", "openapi.docs_asset", "openapi.docs_own_asset"}
)
SWAGGER_UI = files("flask_swagger_ui") / "dist"
OWN_ASSETS = Path(__file__).parent / "static"  # docs.js, which starts Swagger UI

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Reportbox API</title>
  <link rel="stylesheet" href="{{ asset('swagger-ui.css') }}">
  <link rel="icon" type="image/png" href="{{ asset('favicon-32x32.png') }}" sizes="32x32">
</head>
<body>
  <div id="swagger-ui" data-spec-url="{{ spec_url }}"></div>
  <script src="{{ asset('swagger-ui-bundle.js') }}"></script>
  <script src="{{ url_for('openapi.docs_own_asset', filename='docs.js') }}"></script>
</body>
</html>
"""


@blueprint.get("/openapi.json")
@documented(
    Operation(
        summary="This document",
        tag="documentation",
        success=Success(200, "The OpenAPI 3.1 document of this API.", {"type": "object"}),
    )
)
def spec() -> Response:
    # Built once per app, on first use: the routes and the catalog are fixed by then.
    document = current_app.extensions.get("openapi.spec")
    if document is None:
        document = current_app.extensions["openapi.spec"] = build_spec(current_app)
    return jsonify(document)


@blueprint.get("/docs")
@documented(
    Operation(
        summary="This document as a Swagger UI page",
        tag="documentation",
        success=Success(200, "An HTML page; its assets are served by this API.", content_type=HTML),
    )
)
def docs() -> str:
    return render_template_string(
        PAGE,
        spec_url=url_for("openapi.spec"),
        asset=lambda name: url_for("openapi.docs_asset", filename=name),
    )


@blueprint.get("/docs/assets/<path:filename>")
@documented(Hidden("the docs page's scripts and styles"))
def docs_asset(filename: str) -> Response:
    return send_from_directory(str(SWAGGER_UI), filename, max_age=3600)


@blueprint.get("/docs/own/<path:filename>")
@documented(Hidden("the script that starts Swagger UI on the docs page"))
def docs_own_asset(filename: str) -> Response:
    return send_from_directory(OWN_ASSETS, filename, max_age=3600)


@blueprint.after_request
def _docs_headers(response: Response) -> Response:
    # The page's own policy: Swagger UI asks only this API (the document has no `servers`,
    # so "Try it out" goes to this origin), and is never framed (no clickjacking of its
    # Authorize dialog). Harmless on the JSON document and the assets.
    response.headers["Content-Security-Policy"] = docs_content_security_policy()
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response

"""/api/v1/openapi.json and the Swagger UI page /api/v1/docs, both public.

The page's scripts and styles are flask-swagger-ui's copy of Swagger UI, served from the
installed package: the page needs no network beyond this API.
"""

from __future__ import annotations

from importlib.resources import files

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

blueprint = Blueprint("openapi", __name__, url_prefix="/api/v1")

PUBLIC_ENDPOINTS = frozenset({"openapi.spec", "openapi.docs", "openapi.docs_asset"})
SWAGGER_UI = files("flask_swagger_ui") / "dist"

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Reportbox API</title>
  <link rel="stylesheet" href="{{ asset('swagger-ui.css') }}">
  <link rel="icon" type="image/png" href="{{ asset('favicon-32x32.png') }}" sizes="32x32">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{{ asset('swagger-ui-bundle.js') }}"></script>
  <script>
    window.ui = SwaggerUIBundle({
      url: {{ spec_url | tojson }},
      dom_id: "#swagger-ui",
      deepLinking: true,
      persistAuthorization: true,
      validatorUrl: null,  // no badge from validator.swagger.io: the page stays offline
    });
  </script>
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

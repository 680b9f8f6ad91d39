"""The Swagger UI page /api/v1/docs gets the web page's protections (tests/browser has it run)."""

from __future__ import annotations

import re

import pytest

from api.app import create_app
from tests.integration.helpers import AssetLinks

DOCS = "/api/v1/docs"


@pytest.fixture(scope="module")
def client(settings):
    app = create_app(settings)
    yield app.test_client()
    app.extensions["reportbox"].engine.dispose()


def directives(header: str) -> dict[str, list[str]]:
    return {
        name: values
        for name, *values in (part.split() for part in header.split(";") if part.strip())
    }


def test_the_docs_page_forbids_inline_script_framing_and_other_origins(client):
    page = client.get(DOCS)

    policy = directives(page.headers["Content-Security-Policy"])
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert {source for values in policy.values() for source in values} <= {
        "'self'",
        "'none'",
        "data:",  # only in img-src: Swagger UI's stylesheet draws its icons so
    }
    assert policy["img-src"] == ["'self'", "data:"]
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"] == "no-referrer"


def test_the_docs_page_has_no_inline_script(client):
    html = client.get(DOCS).get_data(as_text=True)

    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert scripts and all(body.strip() == "" for _, body in scripts), scripts
    assert all(" src=" in attrs for attrs, _ in scripts)
    assert re.search(r"<[^>]*\son[a-z]+\s*=", html) is None  # no inline event handler


def test_the_script_that_starts_swagger_ui_is_ours_and_keeps_no_token(client):
    html = client.get(DOCS).get_data(as_text=True)
    ours = [link for link in AssetLinks.of(html) if link.endswith("/docs.js")]

    assert len(ours) == 1
    with client.get(ours[0]) as script:
        source = script.get_data(as_text=True)
        assert script.status_code == 200
        assert script.mimetype == "text/javascript"
        assert script.headers["X-Content-Type-Options"] == "nosniff"
    assert "SwaggerUIBundle(" in source
    # Swagger UI's persistAuthorization writes the pasted token to localStorage.
    assert re.search(r"persistAuthorization:\s*false", source), source


@pytest.mark.parametrize("path", ["/api/v1/openapi.json", "/api/v1/docs/assets/swagger-ui.css"])
def test_the_document_and_the_assets_are_not_sniffed_either(client, path):
    with client.get(path) as answer:
        assert answer.status_code == 200
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]

"""What the server sends for the page: public, a strict CSP, demo tokens only in development."""

from __future__ import annotations

import json
import logging
import re
import secrets

import jwt
import pytest

from api.app import create_app
from api.auth import TokenVerifier
from api.page.demo import DEMO_TOKEN_SECONDS
from tests.browser.conftest import DEVELOPMENT_SECRET
from tests.integration.security_helpers import private_key, public_pem

DEMO_DATA = re.compile(r'<script type="application/json" id="demo-users">(.*?)</script>', re.S)


@pytest.fixture
def client_for(settings):
    def make(**overrides):
        return create_app(settings.with_overrides(**overrides)).test_client()

    return make


def directives(header: str) -> dict[str, list[str]]:
    return {
        name: values
        for name, *values in (part.split() for part in header.split(";") if part.strip())
    }


def test_the_page_and_its_assets_need_no_token(client_for):
    client = client_for()

    page = client.get("/")
    with client.get("/assets/js/main.js") as script, client.get("/assets/css/page.css") as style:
        assets = [(script.status_code, script.mimetype), (style.status_code, style.mimetype)]

    assert page.status_code == 200
    assert page.mimetype == "text/html"
    assert page.headers["Cache-Control"] == "no-store"
    assert assets == [(200, "text/javascript"), (200, "text/css")]
    # The API behind it still wants a token.
    assert client.get("/api/v1/reports").status_code == 401


def test_the_policy_forbids_inline_script_and_any_origin_but_self_and_storage(client_for, settings):
    policy = directives(client_for().get("/").headers["Content-Security-Policy"])

    storage = settings.presign_endpoint_url.rstrip("/")
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["default-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'", storage]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    sources = {source for values in policy.values() for source in values}
    assert sources <= {"'self'", "'none'", storage}


def test_the_policy_names_the_public_storage_endpoint_that_downloads_go_to(client_for):
    client = client_for(
        s3_endpoint_url="http://minio:9000", s3_public_endpoint_url="https://files.example:8443"
    )

    policy = directives(client.get("/").headers["Content-Security-Policy"])

    assert policy["connect-src"] == ["'self'", "https://files.example:8443"]


def test_the_page_has_no_inline_script(client_for):
    html = client_for(dev_mode=True).get("/").get_data(as_text=True)

    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    executable = [attrs for attrs, body in scripts if 'type="application/json"' not in attrs]
    assert executable == [' type="module" src="/assets/js/main.js"']
    assert all(body == "" for attrs, body in scripts if attrs in executable)
    assert re.search(r"<[^>]*\son[a-z]+\s*=", html) is None  # no inline event handler


def assert_no_demo_sign_in(html: str) -> None:
    assert DEMO_DATA.search(html) is None
    assert "eyJ" not in html  # no token of any kind


def test_no_demo_sign_in_outside_development(client_for):
    client = client_for(dev_mode=False, jwt_secret=secrets.token_hex(32))

    assert_no_demo_sign_in(client.get("/").get_data(as_text=True))


def test_no_demo_sign_in_in_development_with_a_real_secret(client_for):
    # Tokens signed with it would be trusted wherever that secret is: not something to hand out.
    client = client_for(dev_mode=True, jwt_secret=secrets.token_hex(32))

    assert_no_demo_sign_in(client.get("/").get_data(as_text=True))


def test_no_demo_sign_in_in_development_with_a_public_key(client_for):
    public_key = public_pem(private_key("RS256"))
    client = client_for(
        dev_mode=True, jwt_secret=None, jwt_public_key=public_key, jwt_algorithm="RS256"
    )

    assert_no_demo_sign_in(client.get("/").get_data(as_text=True))


@pytest.mark.parametrize("dev_mode", [True, False])
def test_the_api_warns_at_start_while_dev_mode_is_on(client_for, caplog, dev_mode):
    secret = DEVELOPMENT_SECRET if dev_mode else secrets.token_hex(32)
    with caplog.at_level(logging.WARNING, logger="api.app"):
        client_for(dev_mode=dev_mode, jwt_secret=secret)

    warnings = [record.getMessage() for record in caplog.records if "dev_mode_on" in record.msg]
    if dev_mode:
        assert len(warnings) == 1 and "demo_sign_in=True" in warnings[0], warnings
        assert secret not in warnings[0]
    else:
        assert warnings == []


def test_development_offers_short_lived_demo_tokens_for_both_orgs_and_roles(client_for, settings):
    html = client_for(dev_mode=True).get("/").get_data(as_text=True)

    users = json.loads(DEMO_DATA.search(html).group(1))
    verifier = TokenVerifier(settings)
    principals = {(user["org"], user["role"]): verifier.verify(user["token"]) for user in users}
    assert set(principals) == {
        ("acme", "analyst"),
        ("acme", "admin"),
        ("globex", "analyst"),
        ("globex", "admin"),
    }
    for (org, role), principal in principals.items():
        assert (principal.org, principal.roles) == (org, frozenset({role}))
    claims = jwt.decode(users[0]["token"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == DEMO_TOKEN_SECONDS

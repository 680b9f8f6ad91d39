"""Tokens, request hygiene and a database that goes away, against the real app and database."""

from __future__ import annotations

import io
import json
import secrets
import socket
import uuid

import jwt
import psycopg
import pytest
from sqlalchemy import func, make_url, select
from werkzeug.test import EnvironBuilder, run_wsgi_app

from api.app import MAX_BODY_BYTES, create_app
from shared.db import libpq_url
from shared.models import OutboxMessage, Report
from tests.conftest import JWT_SECRET
from tests.faultproxy import fault_proxy
from tests.integration.helpers import via_proxy_database
from tests.integration.security_helpers import (
    OMIT,
    claims,
    hs256_signed_with,
    private_key,
    public_pem,
    unsigned,
    with_payload_of,
)

PROBLEM_JSON = "application/problem+json"
INVALID_TOKEN = 'Bearer error="invalid_token"'
CATALOG = "/api/v1/report-types"
SESSIONS_REPORT = "/api/v1/reports/sessions"
OTHER_SECRET = secrets.token_hex(32)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def signed(settings, **overrides) -> str:
    return jwt.encode(claims(settings, **overrides), JWT_SECRET, algorithm="HS256")


def hand_signed(settings, **overrides) -> str:
    """Signed with the right secret by hand: PyJWT will not encode claims of the wrong type."""
    return hs256_signed_with(JWT_SECRET.encode(), claims(settings, **overrides))


def request_body(day: int = 1) -> dict:
    # A different day per request, so no two requests of one user are duplicates of each other.
    return {
        "format": "csv",
        "parameters": {"fromDate": f"2026-03-{day:02d}", "toDate": "2026-03-31"},
    }


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.content_type == PROBLEM_JSON
    problem = response.get_json()
    assert problem["status"] == status
    assert problem["title"]
    return problem


# ---------------------------------------------------------------- tokens (HS256 development mode)

AUTHORIZATION_HEADERS = {
    "no header": lambda s: None,
    "empty header": lambda s: "",
    "another scheme": lambda s: f"Basic {signed(s)}",
    "bearer without a token": lambda s: "Bearer",
    "two tokens": lambda s: f"Bearer {signed(s)} {signed(s)}",
    "not a jwt": lambda s: "Bearer not-a-token",
    "expired": lambda s: f"Bearer {signed(s, exp=1)}",
    "expiry not a number": lambda s: f"Bearer {hand_signed(s, exp='tomorrow')}",
    "not valid yet": lambda s: f"Bearer {signed(s, nbf=4_000_000_000)}",
    "no exp": lambda s: f"Bearer {signed(s, exp=OMIT)}",
    "no iss": lambda s: f"Bearer {signed(s, iss=OMIT)}",
    "no aud": lambda s: f"Bearer {signed(s, aud=OMIT)}",
    "no sub": lambda s: f"Bearer {signed(s, sub=OMIT)}",
    "no org": lambda s: f"Bearer {signed(s, org=OMIT)}",
    "wrong signature": lambda s: f"Bearer {jwt.encode(claims(s), OTHER_SECRET, algorithm='HS256')}",
    "payload changed after signing": lambda s: (
        f"Bearer {with_payload_of(signed(s), claims(s, org='globex'))}"
    ),
    "alg none": lambda s: f"Bearer {unsigned(claims(s))}",
    "alg none without the trailing dot": lambda s: f"Bearer {unsigned(claims(s)).rstrip('.')}",
    "HS384 with the right secret": lambda s: (
        f"Bearer {jwt.encode(claims(s), JWT_SECRET, algorithm='HS384')}"
    ),
    "wrong aud": lambda s: f"Bearer {signed(s, aud='another-api')}",
    "wrong iss": lambda s: f"Bearer {signed(s, iss='someone-else')}",
    "iss not a string": lambda s: f"Bearer {hand_signed(s, iss=[s.jwt_issuer])}",
    "roles not a list": lambda s: f"Bearer {hand_signed(s, roles='admin')}",
    "roles not strings": lambda s: f"Bearer {hand_signed(s, roles=['analyst', 7])}",
    "sub not a string": lambda s: f"Bearer {hand_signed(s, sub=42)}",
    "org not a string": lambda s: f"Bearer {hand_signed(s, org={'name': 'acme'})}",
    "empty org": lambda s: f"Bearer {hand_signed(s, org='')}",
}


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_a_well_formed_token_is_accepted_so_the_refusals_below_mean_something(
    client, settings, scheme
):
    response = client.get(CATALOG, headers={"Authorization": f"{scheme} {signed(settings)}"})

    assert response.status_code == 200


@pytest.mark.parametrize("case", AUTHORIZATION_HEADERS)
def test_every_bad_or_missing_token_is_a_401_problem_with_the_bearer_challenge(
    client, settings, case
):
    header = AUTHORIZATION_HEADERS[case](settings)
    headers = {} if header is None else {"Authorization": header}

    response = client.get(CATALOG, headers=headers)

    problem = assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == INVALID_TOKEN
    token = (header or "").partition(" ")[2]
    for piece in token.split("."):
        if len(piece) > 8:
            assert piece not in response.get_data(as_text=True)
    assert problem["detail"]


@pytest.mark.parametrize("claim", ["exp", "iss", "aud", "sub", "org"])
def test_the_401_names_the_missing_claim(client, settings, claim):
    response = client.get(CATALOG, headers=auth(signed(settings, **{claim: OMIT})))

    assert claim in assert_problem(response, 401)["detail"]


def test_a_post_without_a_token_is_refused_before_its_body_is_looked_at(client):
    response = client.post(SESSIONS_REPORT, data="{not json", content_type="application/json")

    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == INVALID_TOKEN


# ------------------------------------------------------- tokens (RS256 and ES256 production mode)


@pytest.fixture(params=["RS256", "ES256"])
def asymmetric(request, settings):
    """(algorithm, private key, client of an app that verifies with the public key)."""
    algorithm = request.param
    key = private_key(algorithm)
    app = create_app(
        settings.with_overrides(
            jwt_secret=None, jwt_public_key=public_pem(key), jwt_algorithm=algorithm
        )
    )
    yield algorithm, key, app.test_client()
    app.extensions["reportbox"].engine.dispose()


def test_a_token_signed_with_the_private_key_is_accepted(asymmetric, settings):
    algorithm, key, client = asymmetric

    response = client.get(CATALOG, headers=auth(jwt.encode(claims(settings), key, algorithm)))

    assert response.status_code == 200


FORGERIES = {
    "HS256 with the development secret": lambda s, alg, key: jwt.encode(
        claims(s), JWT_SECRET, algorithm="HS256"
    ),
    "HS256 with the public key as HMAC secret": lambda s, alg, key: hs256_signed_with(
        public_pem(key).encode(), claims(s)
    ),
    "alg none": lambda s, alg, key: unsigned(claims(s)),
    "signed by another private key": lambda s, alg, key: jwt.encode(
        claims(s), private_key(alg), algorithm=alg
    ),
    "the other asymmetric family": lambda s, alg, key: jwt.encode(
        claims(s),
        private_key("ES256" if alg.startswith("RS") else "RS256"),
        algorithm="ES256" if alg.startswith("RS") else "RS256",
    ),
    "expired": lambda s, alg, key: jwt.encode(claims(s, exp=1), key, algorithm=alg),
    "wrong aud": lambda s, alg, key: jwt.encode(claims(s, aud="another-api"), key, algorithm=alg),
}


@pytest.mark.parametrize("forgery", FORGERIES)
def test_in_production_mode_only_the_configured_algorithm_and_key_are_accepted(
    asymmetric, settings, forgery
):
    algorithm, key, client = asymmetric
    token = FORGERIES[forgery](settings, algorithm, key)

    response = client.get(CATALOG, headers=auth(token))

    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == INVALID_TOKEN


# ------------------------------------------------------------------------- request hygiene


def oversized_json() -> str:
    return '{"format": "csv", "padding": "' + "x" * MAX_BODY_BYTES + '"}'


JSON = "application/json"
HYGIENE = {
    "malformed json": ("post", SESSIONS_REPORT, {"data": "{nope", "content_type": JSON}, 400),
    "empty json body": ("post", SESSIONS_REPORT, {"data": "", "content_type": JSON}, 400),
    "form body": (
        "post",
        SESSIONS_REPORT,
        {"data": "a=b", "content_type": "application/x-www-form-urlencoded"},
        415,
    ),
    "text body": ("post", SESSIONS_REPORT, {"data": "{}", "content_type": "text/plain"}, 415),
    "no body and no content type": ("post", SESSIONS_REPORT, {}, 415),
    "body over 64 KiB": (
        "post",
        SESSIONS_REPORT,
        {"data": oversized_json(), "content_type": JSON},
        413,
    ),
    "array body": ("post", SESSIONS_REPORT, {"json": []}, 422),
    "string body": ("post", SESSIONS_REPORT, {"json": "x"}, 422),
    "null body": ("post", SESSIONS_REPORT, {"data": "null", "content_type": JSON}, 422),
    "number body": ("post", SESSIONS_REPORT, {"data": "1", "content_type": JSON}, 422),
    "unknown path": ("get", "/api/v1/nothing-here", {}, 404),
    "unknown report type": ("post", "/api/v1/reports/payroll", {"json": request_body()}, 404),
    "unknown method": ("put", CATALOG, {"json": {}}, 405),
}


@pytest.mark.parametrize("case", HYGIENE)
def test_every_bad_request_is_a_problem_with_the_right_status(client, settings, case):
    method, path, kwargs, status = HYGIENE[case]

    response = getattr(client, method)(path, headers=auth(signed(settings)), **kwargs)

    assert_problem(response, status)


def test_a_405_keeps_the_allow_header(client, settings):
    response = client.delete(CATALOG, headers=auth(signed(settings)))

    assert_problem(response, 405)
    assert {method.strip() for method in response.headers["Allow"].split(",")} >= {"GET"}


def padded(body: dict, size: int) -> bytes:
    """The body as JSON followed by whitespace up to size bytes: still one valid object."""
    encoded = json.dumps(body).encode()
    return encoded + b" " * (size - len(encoded))


def test_a_body_of_exactly_64_kib_is_accepted(client, make_token):
    body = padded(request_body(1), MAX_BODY_BYTES)

    response = client.post(
        SESSIONS_REPORT, data=body, content_type="application/json", headers=auth(make_token())
    )

    assert len(body) == MAX_BODY_BYTES
    assert response.status_code == 202


def chunked(app, body: bytes, token: str):
    """A POST the way gunicorn hands a chunked body over: no Content-Length, input terminated."""
    environ = EnvironBuilder(
        path=SESSIONS_REPORT,
        method="POST",
        content_type="application/json",
        headers={**auth(token), "Transfer-Encoding": "chunked"},
    ).get_environ()
    environ.pop("CONTENT_LENGTH", None)
    environ.update({"wsgi.input": io.BytesIO(body), "wsgi.input_terminated": True})
    app_iter, status, headers = run_wsgi_app(app, environ, buffered=True)
    return int(status.split()[0]), headers, b"".join(app_iter)


CHUNKED_BODIES = {
    "small": (json.dumps(request_body(2)).encode(), 202),
    "exactly 64 KiB": (padded(request_body(3), MAX_BODY_BYTES), 202),
    "over 64 KiB": (oversized_json().encode(), 413),
    # Cut at the limit, this one would still parse: only the size check refuses it.
    "a valid object padded past 64 KiB": (padded(request_body(4), MAX_BODY_BYTES + 1), 413),
}


@pytest.mark.parametrize("case", CHUNKED_BODIES)
def test_a_chunked_body_without_content_length_is_held_to_the_same_limit(app, make_token, case):
    body, expected = CHUNKED_BODIES[case]

    status, headers, payload = chunked(app, body, make_token())

    assert status == expected, payload
    if expected == 413:
        assert headers["Content-Type"] == PROBLEM_JSON
        assert json.loads(payload)["status"] == 413


@pytest.fixture
def fragile_app(settings):
    """A fresh app with test-only routes: one that fails, one that redirects."""
    app = create_app(settings)

    @app.get("/test-only/boom")
    def boom():
        raise RuntimeError("secret-detail in /srv/reportbox/api/boom.py, password=hunter2")

    @app.get("/test-only/slashed/")
    def slashed():
        return {"ok": True}

    yield app
    app.extensions["reportbox"].engine.dispose()


def test_an_unexpected_error_is_a_500_problem_that_leaks_nothing(fragile_app, settings):
    response = fragile_app.test_client().get("/test-only/boom", headers=auth(signed(settings)))

    problem = assert_problem(response, 500)
    text = response.get_data(as_text=True)
    assert set(problem) == {"type", "title", "status", "detail"}
    for leak in ("secret-detail", "hunter2", "boom.py", "RuntimeError", "Traceback"):
        assert leak not in text


def test_a_routing_redirect_stays_a_redirect(fragile_app, settings):
    response = fragile_app.test_client().get("/test-only/slashed", headers=auth(signed(settings)))

    assert response.status_code == 308
    assert response.headers["Location"].endswith("/test-only/slashed/")


# ----------------------------------------------------------------------- database unavailable


def counts(sessions, owner: str) -> tuple[int, int, int]:
    with sessions() as session:
        return (
            session.scalar(
                select(func.count()).select_from(Report).where(Report.owner_id == owner)
            ),
            session.scalar(select(func.count()).select_from(Report)),
            session.scalar(select(func.count()).select_from(OutboxMessage)),
        )


@pytest.mark.timeout(60)
def test_with_the_database_cut_a_post_is_503_writes_nothing_and_works_once_it_is_back(
    settings, sessions, make_token
):
    database = make_url(settings.database_url)
    owner = f"cut-{uuid.uuid4().hex[:8]}"
    token = make_token(sub=owner)
    with fault_proxy(database.host, database.port) as proxy:
        app = create_app(
            settings.with_overrides(
                database_url=via_proxy_database(settings.database_url, proxy.port)
            )
        )
        client = app.test_client()
        try:
            assert (
                client.post(SESSIONS_REPORT, json=request_body(1), headers=auth(token)).status_code
                == 202
            )
            before = counts(sessions, owner)

            proxy.cut()
            down = client.post(SESSIONS_REPORT, json=request_body(2), headers=auth(token))
            not_ready = client.get("/readyz")

            problem = assert_problem(down, 503)
            assert "nothing was written" in problem["detail"]
            assert int(down.headers["Retry-After"]) > 0
            assert_problem(not_ready, 503)
            assert counts(sessions, owner) == before

            proxy.restore()
            again = client.post(SESSIONS_REPORT, json=request_body(3), headers=auth(token))

            assert again.status_code == 202
            assert client.get("/readyz").status_code == 200
            assert counts(sessions, owner)[0] == before[0] + 1
        finally:
            app.extensions["reportbox"].engine.dispose()


@pytest.mark.timeout(60)
def test_a_database_that_accepts_but_never_answers_is_503_after_the_connect_timeout(
    settings, make_token
):
    silent = socket.create_server(("127.0.0.1", 0))  # the kernel accepts; nobody ever speaks
    port = silent.getsockname()[1]
    app = create_app(
        settings.with_overrides(
            database_url=via_proxy_database(settings.database_url, port),
            db_connect_timeout_seconds=2,
        )
    )
    try:
        response = app.test_client().post(
            SESSIONS_REPORT, json=request_body(4), headers=auth(make_token())
        )
        readiness = app.test_client().get("/readyz")
    finally:
        app.extensions["reportbox"].engine.dispose()
        silent.close()

    assert_problem(response, 503)
    assert_problem(readiness, 503)


@pytest.mark.timeout(60)
def test_a_post_stuck_behind_a_lock_is_503_after_the_statement_timeout_and_writes_nothing(
    settings, sessions, make_token
):
    owner = f"locked-{uuid.uuid4().hex[:8]}"
    app = create_app(settings.with_overrides(api_statement_timeout_ms=500))
    try:
        with psycopg.connect(libpq_url(settings.database_url)) as blocker:
            blocker.execute("LOCK TABLE reports IN SHARE MODE")  # reads pass, inserts wait
            response = app.test_client().post(
                SESSIONS_REPORT, json=request_body(5), headers=auth(make_token(sub=owner))
            )
            blocker.rollback()
    finally:
        app.extensions["reportbox"].engine.dispose()

    assert_problem(response, 503)
    assert counts(sessions, owner)[0] == 0

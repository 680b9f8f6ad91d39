"""The served OpenAPI document against real answers: every operation, every status it lists.

Each response below is checked by openapi-core against the document the API serves; the
last assertion demands that every (operation, status) the document lists was provoked here,
so a status added to a declaration without a test, or answered without a declaration, fails.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_core import Config, OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIResponse
from openapi_core.testing import MockRequest
from openapi_spec_validator import validate
from sqlalchemy import text

from api.app import create_app
from api.openapi.declarations import Hidden, documented
from api.openapi.spec import UndocumentedRoute, build_spec, documented_routes
from shared.catalog import REPORT_TYPES
from shared.config import Settings
from tests.integration.definitions_conformance import provoke_definition_statuses
from tests.integration.helpers import AssetLinks

# Parameters each catalog type accepts; a second set differs, for a second distinct request.
VALID_PARAMETERS = {
    "sessions": [
        {"fromDate": "2026-01-01", "toDate": "2026-01-02"},
        {"fromDate": "2026-02-01", "toDate": "2026-02-02"},
    ],
    "popularity": [
        {"fromDate": "2026-01-01", "toDate": "2026-01-02"},
        {"fromDate": "2026-02-01", "toDate": "2026-02-02"},
    ],
    "users": [{}, {"country": "DE"}],
}
DEAD_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:1/unreachable"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Conformance:
    """Validates each response against the document and remembers what it has seen."""

    def __init__(self, document: dict) -> None:
        # problem+json is JSON; openapi-core reads only application/json as such by itself.
        config = Config(extra_media_type_deserializers={"application/problem+json": json.loads})
        self.openapi = OpenAPI.from_dict(document, config=config)
        self.document = document
        self.seen: set[tuple[str, str, str]] = set()
        self._templates = [
            (re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"), path)
            for path in document["paths"]
        ]

    def check(self, response, status: int):
        assert response.status_code == status, response.get_data(as_text=True)
        request = response.request
        # The request only locates the operation; a refused body (413) was never read.
        located = MockRequest(request.host_url.rstrip("/"), request.method.lower(), request.path)
        self.openapi.validate_response(located, WerkzeugOpenAPIResponse(response))
        self.seen.add((response.request.method, self._template(response.request.path), str(status)))
        return response

    def documented(self) -> set[tuple[str, str, str]]:
        return {
            (method.upper(), path, status)
            for path, operations in self.document["paths"].items()
            for method, operation in operations.items()
            if method != "parameters"
            for status in operation["responses"]
        }

    def _template(self, path: str) -> str:
        # Literal paths (/reports/sessions) win over templated ones (/reports/{reportId}).
        matches = [template for pattern, template in self._templates if pattern.match(path)]
        return min(matches, key=lambda template: template.count("{"))


@pytest.fixture(scope="module")
def conformance(app: Flask) -> Conformance:
    document = app.test_client().get("/api/v1/openapi.json").get_json()
    validate(document)  # a valid OpenAPI 3.1 document in the first place
    return Conformance(document)


@pytest.fixture(scope="module")
def limited_app(settings: Settings):
    """At most one active report per user: the second is a 429."""
    app = create_app(settings.with_overrides(max_active_reports_per_user=1))
    yield app
    app.extensions["reportbox"].engine.dispose()


@pytest.fixture(scope="module")
def synchronous_app(settings: Settings):
    """Sync content of at most 10 rows and half a second."""
    app = create_app(settings.with_overrides(sync_max_rows=10, sync_timeout_seconds=0.5))
    yield app
    app.extensions["reportbox"].engine.dispose()


@pytest.fixture(scope="module")
def app_without_database(settings: Settings):
    app = create_app(settings.with_overrides(database_url=DEAD_DATABASE))
    yield app
    app.extensions["reportbox"].engine.dispose()


def test_the_document_is_public_and_the_docs_page_needs_no_network(client, conformance):
    conformance.check(client.get("/api/v1/openapi.json"), 200)
    page = conformance.check(client.get("/api/v1/docs"), 200)

    assets = AssetLinks.of(page.get_data(as_text=True))
    assert {"swagger-ui-bundle.js", "swagger-ui.css"} <= {a.rsplit("/", 1)[1] for a in assets}
    for asset in assets:
        assert asset.startswith("/api/v1/docs/"), asset  # nothing from another host
        with client.get(asset) as answer:  # a file response: closing it closes the file
            assert answer.status_code == 200, asset
            assert answer.mimetype in {"text/css", "text/javascript", "image/png"}
    assert '"/api/v1/openapi.json"' in page.get_data(as_text=True)


def test_each_report_type_has_its_parameters_schema_and_its_own_path(conformance):
    document = conformance.document
    for report_type in REPORT_TYPES.values():
        schema_name = report_type.parameters_schema.__name__
        validated = report_type.schema_class()  # the type's own fields and the standard ones
        properties = document["components"]["schemas"][schema_name]["properties"]
        assert set(properties) == {f.data_key or name for name, f in validated.fields.items()}
        assert {"columns", "timezone"} <= set(properties)
        operation = document["paths"][f"/api/v1/reports/{report_type.name}"]["post"]
        body_ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        body = document["components"]["schemas"][body_ref.rsplit("/", 1)[1]]
        assert body["properties"]["parameters"] == {"$ref": f"#/components/schemas/{schema_name}"}
        assert body["properties"]["format"]["enum"] == list(report_type.formats)
        accepted = operation["responses"]["202"]
        assert {"Location", "Retry-After", "Idempotent-Replayed"} <= set(accepted["headers"])
        assert [p["name"] for p in operation["parameters"]] == ["Idempotency-Key"]
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_every_api_route_is_documented_and_an_undocumented_one_stops_the_build(app):
    rules = {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/")
        and not isinstance(getattr(app.view_functions[rule.endpoint], "openapi", None), Hidden)
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert set(documented_routes(app)) == rules

    bare = Flask(__name__)
    bare.add_url_rule("/api/v1/ok", "ok", documented(Hidden("a test"))(lambda: ""))
    bare.add_url_rule("/api/v1/forgotten", "forgotten", lambda: "")
    with pytest.raises(UndocumentedRoute, match="/api/v1/forgotten"):
        build_spec(bare)


def test_real_answers_of_every_operation_match_the_document(
    client: FlaskClient,
    conformance: Conformance,
    make_token: Callable[..., str],
    make_exporter,
    engine,
    limited_app: Flask,
    synchronous_app: Flask,
    app_without_database: Flask,
    monkeypatch,
):
    check = conformance.check
    admin = bearer(make_token(roles=("admin",)))
    for name in REPORT_TYPES:
        provoke_every_request_status(client, limited_app, check, make_token, name)

    # The lifecycle of one report through every other operation.
    created = check(post(client, "sessions", admin, VALID_PARAMETERS["sessions"][0]), 202)
    report_id = created.get_json()["reportId"]
    replay_key = {**admin, "Idempotency-Key": f"key-{uuid.uuid4()}"}
    first = check(post(client, "sessions", replay_key, VALID_PARAMETERS["sessions"][1]), 202)
    replayed = check(post(client, "sessions", replay_key, VALID_PARAMETERS["sessions"][1]), 202)
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.get_json() == first.get_json()
    check(client.get("/api/v1/report-types", headers=admin), 200)
    check(client.get("/api/v1/report-types"), 401)
    check(client.get("/api/v1/reports", headers=admin), 200)
    check(client.get("/api/v1/reports?status=Pending&pageSize=1", headers=admin), 200)
    check(client.get("/api/v1/reports?page=0", headers=admin), 422)
    check(client.get("/api/v1/reports?color=red", headers=admin), 422)
    check(client.get("/api/v1/reports"), 401)
    check(client.get(f"/api/v1/reports/{report_id}", headers=admin), 200)
    check(client.get(f"/api/v1/reports/{report_id}"), 401)
    check(client.get(f"/api/v1/reports/{uuid.uuid4()}", headers=admin), 404)
    # Not a UUID names no report either: 404, not the 405 of the POST route beside it.
    check(client.get("/api/v1/reports/not-a-uuid", headers=admin), 404)
    check(client.delete("/api/v1/reports/not-a-uuid", headers=admin), 404)
    check(client.get("/api/v1/reports/not-a-uuid/download", headers=admin), 404)
    check(client.get(f"/api/v1/reports/{report_id}/download", headers=admin), 409)
    check(client.get(f"/api/v1/reports/{report_id}/download"), 401)
    check(client.get(f"/api/v1/reports/{uuid.uuid4()}/download", headers=admin), 404)

    make_exporter().process(report_id)
    done = check(client.get(f"/api/v1/reports/{report_id}", headers=admin), 200)
    assert done.get_json()["status"] == "Completed"
    check(client.get(f"/api/v1/reports/{report_id}/download", headers=admin), 302)
    check(client.delete(f"/api/v1/reports/{report_id}", headers=admin), 409)
    with engine.begin() as connection:  # the retention period ends
        connection.execute(
            text("UPDATE reports SET expires_at = now() - interval '1 second' WHERE id = :id"),
            {"id": report_id},
        )
    check(client.get(f"/api/v1/reports/{report_id}/download", headers=admin), 410)

    pending_id = first.get_json()["reportId"]
    check(client.delete(f"/api/v1/reports/{pending_id}"), 401)
    check(client.delete(f"/api/v1/reports/{uuid.uuid4()}", headers=admin), 404)
    check(client.delete(f"/api/v1/reports/{pending_id}", headers=admin), 202)

    provoke_every_webhook_status(client, check, make_token, app_without_database, engine)
    provoke_delivery_retry(client, app_without_database, check, admin, engine, report_id)

    offline = app_without_database.test_client()
    for answer in (
        offline.get("/api/v1/reports", headers=admin),
        offline.get(f"/api/v1/reports/{report_id}", headers=admin),
        offline.delete(f"/api/v1/reports/{report_id}", headers=admin),
        offline.get(f"/api/v1/reports/{report_id}/download", headers=admin),
        *(post(offline, name, admin, VALID_PARAMETERS[name][0]) for name in REPORT_TYPES),
    ):
        check(answer, 503)

    provoke_definition_statuses(
        client,
        limited_app.test_client(),
        synchronous_app.test_client(),
        offline,
        check,
        make_token,
        monkeypatch,
    )

    assert conformance.documented() - conformance.seen == set()


def provoke_every_request_status(client, limited_app, check, make_token, name: str) -> None:
    path = f"/api/v1/reports/{name}"
    admin = bearer(make_token(roles=("admin",)))
    parameters = VALID_PARAMETERS[name]
    check(post(client, name, admin, parameters[0]), 202)
    check(post(client, name, admin, parameters[0]), 409)
    check(client.post(path, json={"format": "csv"}), 401)
    check(post(client, name, bearer(make_token(roles=("viewer",))), parameters[0]), 403)
    check(post(client, name, admin, parameters[0], report_format="doc"), 422)
    check(post(client, name, {**admin, "Idempotency-Key": ""}, parameters[1]), 422)
    check(client.post(path, data="{", content_type="application/json", headers=admin), 400)
    check(client.post(path, data="csv", content_type="text/plain", headers=admin), 415)
    big = {"format": "csv", "parameters": {"padding": "x" * 70_000}}
    check(client.post(path, json=big, headers=admin), 413)

    limited = limited_app.test_client()
    busy = bearer(make_token(roles=("admin",)))
    check(post(limited, name, busy, parameters[0]), 202)
    too_many = check(post(limited, name, busy, parameters[1]), 429)
    assert too_many.headers["Retry-After"].isdigit()


def provoke_delivery_retry(client, app_without_database, check, admin, engine, report_id):
    delivery_id = uuid.uuid4()
    with engine.begin() as connection:
        connection.execute(
            text(
                """
                INSERT INTO deliveries (id, report_id, definition_id, position, kind, target,
                                        state)
                VALUES (:id, :report_id, gen_random_uuid(), 0, 'email', '{}', 'Failed')
                """
            ),
            {"id": delivery_id, "report_id": report_id},
        )
    path = f"/api/v1/reports/{report_id}/deliveries"
    check(client.post(f"{path}/{delivery_id}/retry", headers=admin), 202)
    check(client.post(f"{path}/{uuid.uuid4()}/retry", headers=admin), 404)
    offline = app_without_database.test_client()
    retry = f"{path}/{delivery_id}/retry"
    check(offline.post(retry, headers=admin), 503)
    check(client.post(retry), 401)
    check(client.post(retry, data="{", content_type="application/json", headers=admin), 400)
    check(client.post(retry, json={"padding": "x" * 70_000}, headers=admin), 413)
    with engine.begin() as connection:  # no dispatcher is to send it
        connection.execute(text("DELETE FROM deliveries WHERE id = :id"), {"id": delivery_id})


def provoke_every_webhook_status(client, check, make_token, app_without_database, engine):
    base = "/api/v1/webhook-endpoints"
    admin = bearer(make_token(org="openapi-hooks", roles=("admin",)))
    analyst = bearer(make_token(org="openapi-hooks", roles=("analyst",)))
    public_url = "https://93.184.215.14/hook"  # a public address, checked without DNS
    body = {"url": public_url, "eventTypes": ["report.completed"]}
    created = check(client.post(base, json=body, headers=admin), 201).get_json()
    path = f"{base}/{created['endpointId']}"
    missing = f"{base}/{uuid.uuid4()}"
    message_id = check(client.post(f"{path}/test", headers=admin), 202).get_json()["messageId"]
    retry = f"{path}/messages/{message_id}/retry"
    big = {"padding": "x" * 70_000}
    check(client.get(base, headers=admin), 200)
    check(client.get(path, headers=admin), 200)
    check(client.get(f"{path}/messages?status=pending", headers=admin), 200)
    check(client.post(retry, headers=admin), 202)
    check(client.post(f"{path}/rotate-secret", headers=admin), 200)
    check(client.patch(path, json={"description": "changed"}, headers=admin), 200)
    check(client.post(base, json={**body, "url": "https://10.1.2.3/"}, headers=admin), 422)
    check(client.post(base, data="url", content_type="text/plain", headers=admin), 415)
    check(client.patch(path, data="url", content_type="text/plain", headers=admin), 415)
    check(client.patch(path, json={"eventTypes": ["nope"]}, headers=admin), 422)
    check(client.get(f"{base}?pageSize=0", headers=admin), 422)
    check(client.get(f"{path}/messages?status=lost", headers=admin), 422)
    operations = [
        ("post", base),
        ("get", base),
        ("get", path),
        ("patch", path),
        ("delete", path),
        ("post", f"{path}/test"),
        ("post", f"{path}/rotate-secret"),
        ("get", f"{path}/messages"),
        ("post", retry),
    ]
    offline = app_without_database.test_client()
    for method, url in operations:
        json_body = body if method in ("post", "patch") else None
        check(getattr(client, method)(url, json=json_body), 401)
        check(getattr(client, method)(url, json=json_body, headers=analyst), 403)
        check(getattr(offline, method)(url, json=json_body, headers=admin), 503)
        if method in ("post", "patch"):
            malformed = getattr(client, method)(
                url, data="{", content_type="application/json", headers=admin
            )
            check(malformed, 400)
            check(getattr(client, method)(url, json=big, headers=admin), 413)
        if url != base:
            elsewhere = url.replace(path, missing)
            check(getattr(client, method)(elsewhere, json=json_body, headers=admin), 404)
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE webhook_endpoints SET disabled = true WHERE id = :id"),
            {"id": created["endpointId"]},
        )
    check(client.post(f"{path}/test", headers=admin), 409)
    check(client.post(retry, headers=admin), 409)
    check(client.delete(path, headers=admin), 204)


def post(client, name: str, headers: dict, parameters: dict, report_format: str = "csv"):
    return client.post(
        f"/api/v1/reports/{name}",
        json={"format": report_format, "parameters": parameters},
        headers=headers,
    )

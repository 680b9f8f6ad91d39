"""Hostile and generated input against the real API: always a 4xx problem or a 202, never a 5xx;
nothing is written for a refusal, and every 202 ends in a terminal status."""

from __future__ import annotations

import http.client
import json
import socket
import uuid
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e.api_client import ApiClient
from tests.strategies import from_json_schema

pytestmark = pytest.mark.e2e

TERMINAL = {"Completed", "Failed", "Cancelled", "Expired"}
WINDOW = {"fromDate": "2026-01-01", "toDate": "2026-01-03"}


@pytest.fixture
def client(stack, make_token) -> ApiClient:
    """An admin of an org of its own: its history is exactly what this test wrote."""
    org = f"hostile-{uuid.uuid4().hex[:8]}"
    return ApiClient(stack.base_url, make_token(org=org, roles=("analyst", "admin")))


def raw_post(client: ApiClient, path: str, body: bytes) -> tuple[int, str, dict]:
    """A POST whose body is sent as is (json.dumps could not even write some of these)."""
    url = urlsplit(client.base_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    headers = {"Authorization": f"Bearer {client.token}", "Content-Type": "application/json"}
    connection.request("POST", path, body=body, headers=headers)
    response = connection.getresponse()
    payload = response.read()
    connection.close()
    return response.status, response.getheader("Content-Type", ""), json.loads(payload or b"null")


def history_total(client: ApiClient) -> int:
    answer = client.request("GET", "/api/v1/reports?pageSize=1")
    assert answer.status == 200
    return answer.body["total"]


def refused(answer_status: int, content_type: str, status: int) -> None:
    assert answer_status == status
    assert content_type.startswith("application/problem+json")


@pytest.mark.parametrize(
    ("report_type", "parameters", "field"),
    [
        ("sessions", {"fromDate": "9999-12-31", "toDate": "9999-12-31"}, "parameters.fromDate"),
        ("popularity", {"fromDate": "9999-12-31", "toDate": "9999-12-31"}, "parameters.fromDate"),
        ("users", {"createdTo": "9999-12-31"}, "parameters.createdTo"),
        ("sessions", {**WINDOW, "device": "tv\x00"}, "parameters.device"),
        ("sessions", {**WINDOW, "device": "tv\ud800"}, "parameters.device"),
        ("sessions", {**WINDOW, "country": "DE\n"}, "parameters.country"),
        ("users", {"country": "DE\n"}, "parameters.country"),
    ],
)
def test_parameters_that_once_reached_a_500_or_a_stuck_report_are_a_422_naming_the_field(
    client, report_type, parameters, field
):
    before = history_total(client)
    body = json.dumps({"format": "csv", "parameters": parameters}).encode()

    status, content_type, problem = raw_post(client, f"/api/v1/reports/{report_type}", body)

    refused(status, content_type, 422)
    assert field in problem["errors"], problem
    assert history_total(client) == before


def test_json_nested_a_thousand_levels_deep_is_a_400(client):
    depth = 1000
    body = b'{"format": "csv", "parameters": ' + b"[" * depth + b"]" * depth + b"}"
    assert len(body) < 64 * 1024

    status, content_type, _ = raw_post(client, "/api/v1/reports/sessions", body)

    refused(status, content_type, 400)
    assert history_total(client) == 0


def test_a_chunked_body_with_a_malformed_chunk_size_is_a_400(client):
    url = urlsplit(client.base_url)
    request = (
        "POST /api/v1/reports/sessions HTTP/1.1\r\n"
        f"Host: {url.netloc}\r\n"
        f"Authorization: Bearer {client.token}\r\n"
        "Content-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n"
        "Connection: close\r\n\r\n"
        "zz\r\n{}\r\n0\r\n\r\n"
    ).encode()
    with socket.create_connection((url.hostname, url.port), timeout=10) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk

    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.split()[1] == b"400", answer[:300]
    assert b"application/problem+json" in rest.partition(b"\r\n\r\n")[0]
    assert history_total(client) == 0


@pytest.mark.parametrize(
    "query",
    ["page=10000000000000000000", "pageSize=10000000000000000000", "reportType=sess%00ions"],
)
def test_history_queries_past_what_the_database_takes_are_a_422(client, query):
    answer = client.request("GET", f"/api/v1/reports?{query}")

    assert answer.status == 422
    assert answer.headers["Content-Type"].startswith("application/problem+json")


# ------------------------------------------------------------------------- generated input

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**30), 10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)
HOSTILE_TEXT = st.sampled_from(
    ["\x00", "a\x00b", "\ud800", "\udfff x", "DE\n", "=1+1", "'; DROP TABLE reports; --", "\u202e"]
) | st.text(max_size=30)


def hostile(valid: st.SearchStrategy[dict]) -> st.SearchStrategy[dict]:
    """A valid parameter object, or one with a field replaced, added or removed."""

    def mutate(draw_params):
        params, how, value, key = draw_params
        params = dict(params)
        if how == "replace" and params:
            params[sorted(params)[key % len(params)]] = value
        elif how == "add":
            params[f"extra{key}"] = value
        elif how == "drop" and params:
            params.pop(sorted(params)[key % len(params)])
        return params

    values = JSON_VALUES | HOSTILE_TEXT | st.sampled_from([10**20, -(10**20), 1e308, -1e308])
    how = st.sampled_from(["keep", "replace", "add", "drop"])
    return st.tuples(valid, how, values, st.integers(0, 10)).map(mutate)


def catalog_strategies(client: ApiClient) -> st.SearchStrategy[tuple[str, str, dict]]:
    """(report type, format, parameters) for every type the caller may request."""
    answer = client.request("GET", "/api/v1/report-types")
    assert answer.status == 200
    choices = [
        st.tuples(
            st.just(item["name"]),
            st.sampled_from([*item["formats"], "exe", "\x00", ""]),
            hostile(from_json_schema(item["parameters"])),
        )
        for item in answer.body["items"]
    ]
    return st.one_of(choices)


def test_generated_requests_never_get_a_5xx_and_every_202_is_in_the_history_and_ends(client):
    accepted: set[str] = set()
    statuses: list[int] = []

    @settings(
        max_examples=150,
        deadline=None,
        derandomize=True,  # the same requests every run
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(catalog_strategies(client))
    def post(request: tuple[str, str, dict]) -> None:
        report_type, report_format, parameters = request
        body = json.dumps({"format": report_format, "parameters": parameters}).encode()
        status, content_type, answer = raw_post(client, f"/api/v1/reports/{report_type}", body)
        statuses.append(status)
        assert status < 500, (request, answer)
        if status == 202:
            accepted.add(answer["reportId"])
        else:
            assert content_type.startswith("application/problem+json"), (status, answer)

    post()

    assert {202, 422} <= set(statuses), statuses  # the generator reaches both sides
    history = []
    page = 1
    while True:
        answer = client.request("GET", f"/api/v1/reports?pageSize=100&page={page}")
        history += answer.body["items"]
        if len(history) >= answer.body["total"]:
            break
        page += 1
    assert {item["reportId"] for item in history} == accepted
    for report_id in accepted:
        report = client.wait_until_terminal(report_id, timeout=60)
        assert report["status"] in TERMINAL
        assert (report["error"] or {}).get("code") != "internal", report

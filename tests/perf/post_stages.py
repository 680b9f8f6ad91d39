"""What one POST costs, stage by stage, on one connection: where the time over the bare view goes.

Every stage runs in this process, one call at a time, against the bench database: the JWT
check, the body's validation (marshmallow and the report type's parameters), a pool
checkout (with its pre-ping), each admission statement as admit() sends them (BEGIN and
the advisory lock, the decide-and-insert statement, the commit), the response's
serialisation, the whole POST through Flask's test client, and, for reference, the bare
view's two inserts on a plain psycopg connection. Medians over rounds of many calls, in
microseconds; CPU-bound stages are this process's own, so the machine's load shows little.
"""

from __future__ import annotations

import itertools
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psycopg
from flask import jsonify

from api.app import create_app
from api.auth import Principal
from api.reports import admission, service
from api.reports.views import _ACCEPTED_SCHEMA, _REPORT_REQUEST_SCHEMA
from shared.catalog import get_report_type
from shared.config import Settings
from shared.db import libpq_url
from shared.messages import ReportRequested
from tests.perf import bare_app
from tests.perf.rounds import ROUNDS, scaled
from tests.perf.stack import ORG, clear_reports, make_token
from tests.perf.table import Line
from tests.perf.tokens import USERS, unique_body

CALLS = scaled(1000, 100)

# (key, label) in the order a request meets them.
STAGES = (
    ("healthz", "GET /healthz through the test client (Flask's floor)"),
    ("jwt", "JWT check (PyJWT, HS256)"),
    ("validation", "body validation (marshmallow + parameters)"),
    ("checkout", "pool checkout with pre-ping"),
    ("lock", "BEGIN + advisory lock, one round trip each"),
    ("state", "admission statement (decide + both inserts)"),
    ("commit", "commit"),
    ("admit", "admit() whole: checkout, BEGIN, lock, admission, commit"),
    ("response", "response: schema dump + jsonify"),
    ("post", "whole POST through the test client"),
    ("bare_db", "bare view's database work: 2 inserts + commit (psycopg)"),
)


def median_us(call: Callable[[int], None], calls: int = CALLS) -> float:
    """The median over ROUNDS rounds of each round's mean microseconds per call."""
    means = []
    for round_ in range(ROUNDS):
        started = time.perf_counter()
        for n in range(calls):
            call(round_ * calls + n)
        means.append((time.perf_counter() - started) * 1e6 / calls)
    return round(statistics.median(means), 1)


def statement_us(url: str, report_type: Any) -> dict[str, float]:
    """Each admission statement timed on its own, as admit() sends them, on a plain psycopg
    connection (no pool)."""
    spent: dict[str, list[float]] = {"lock": [], "state": [], "commit": []}
    with psycopg.connect(url) as connection:
        admitted = connection.cursor()
        for n in range(ROUNDS * CALLS):
            parameters = {"fromDate": "2026-01-01", "toDate": "2026-01-31", "n": n}
            message = ReportRequested.new(uuid.uuid4())
            principal = Principal(f"stages-{n % USERS}", ORG, frozenset({"analyst"}))
            values = admission.admit_parameters(
                principal,
                report_type,
                "csv",
                parameters,
                message,
                max_active=10_000,
                max_per_minute=10_000,
            )
            marks = [time.perf_counter()]
            connection.execute(admission.LOCK_USER, values)
            marks.append(time.perf_counter())
            admitted.execute(admission.ADMIT, values)
            admitted.fetchone()
            marks.append(time.perf_counter())
            connection.commit()
            marks.append(time.perf_counter())
            for key, (start, end) in zip(spent, itertools.pairwise(marks), strict=True):
                spent[key].append((end - start) * 1e6)
    return {key: round(statistics.median(values), 1) for key, values in spent.items()}


def measure(settings: Settings) -> dict[str, Any]:
    settings = settings.with_overrides(
        max_active_reports_per_user=10_000, max_reports_per_user_per_minute=10_000
    )
    clear_reports(settings)
    app = create_app(settings)
    deps = app.extensions["reportbox"]
    client = app.test_client()
    token = make_token(settings)
    # As in the wrk runs, requests come from USERS users, so no user's active reports pile
    # up into thousands (a real user has at most MAX_ACTIVE_REPORTS_PER_USER).
    tokens = [make_token(settings) for _ in range(USERS)]
    report_type = get_report_type("sessions")
    body = {"format": "csv", "parameters": {"fromDate": "2026-01-01", "toDate": "2026-01-31"}}
    bare = psycopg.connect(libpq_url(settings.database_url))

    def validate(_n: int) -> None:
        loaded = _REPORT_REQUEST_SCHEMA.load(body)
        service.validate_request(report_type, loaded["format"], loaded["parameters"])

    def checkout(_n: int) -> None:
        with deps.engine.connect():
            pass

    def admit(n: int) -> None:
        parameters = {"fromDate": "2026-01-01", "toDate": "2026-01-31", "n": n}
        owner = Principal(f"stages-{n % USERS}", ORG, frozenset({"analyst"}))
        admission.admit(
            deps.engine,
            owner,
            report_type,
            "csv",
            parameters,
            max_active=10_000,
            max_per_minute=10_000,
        )

    def fresh(stage: Callable[[], dict[str, float] | float]) -> Any:
        clear_reports(settings)  # every stage meets the same table
        return stage()

    def respond(_n: int) -> None:
        with app.test_request_context():
            jsonify(
                _ACCEPTED_SCHEMA.dump(
                    {
                        "report_id": uuid.uuid4(),
                        "report_type": "sessions",
                        "status": "Pending",
                        "status_url": "http://reportbox.bench/api/v1/reports/x",
                        "created_at": datetime(2026, 1, 1, tzinfo=UTC),
                    }
                )
            )

    def post(n: int) -> None:
        user, raw = unique_body(n, USERS)
        answer = client.post(
            "/api/v1/reports/sessions",
            data=raw,
            headers={"Authorization": f"Bearer {tokens[user]}", "Content-Type": "application/json"},
        )
        if answer.status_code != 202:
            raise RuntimeError(f"POST answered {answer.status_code}: {answer.get_data()[:300]!r}")

    def bare_db(n: int) -> None:
        report_id, message_id = uuid.uuid4(), uuid.uuid4()
        with bare.transaction():
            bare.execute(bare_app.INSERT_REPORT, (report_id, "csv", "{}", f"{report_id}-{n}"))
            bare.execute(bare_app.INSERT_OUTBOX, (message_id, report_id, b"{}"))

    try:
        results = {
            "healthz": median_us(lambda _n: client.get("/healthz")),
            "jwt": median_us(lambda _n: deps.tokens.verify(token)),
            "validation": median_us(validate),
            "checkout": median_us(checkout),
            **fresh(lambda: statement_us(libpq_url(settings.database_url), report_type)),
            "admit": fresh(lambda: median_us(admit)),
            "response": median_us(respond),
            "post": fresh(lambda: median_us(post)),
            "bare_db": fresh(lambda: median_us(bare_db)),
        }
    finally:
        bare.close()
        deps.engine.dispose()
        clear_reports(settings)
    return {"calls_per_round": CALLS, "microseconds": results}


def lines(data: dict[str, Any]) -> list[Line]:
    us = data["microseconds"]
    post = us["post"]
    out = [
        Line(
            f"  {label}",
            f"{us[key]:,.0f} us",
            f"{us[key] / post:.0%} of the POST" if key != "post" else "",
        )
        for key, label in STAGES
    ]
    named = us["jwt"] + us["validation"] + us["admit"] + us["response"]
    out.append(
        Line(
            "  the rest: Flask dispatch, hooks, metrics, logging",
            f"{post - named:,.0f} us",
            f"{(post - named) / post:.0%} of the POST",
        )
    )
    return out

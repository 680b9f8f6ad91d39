"""POST /api/v1/reports/sessions under 32 concurrent clients, against GET /healthz.

/healthz runs through the same gunicorn, Flask and client but touches no database, so the
ratio shows what the one report transaction (and token check) adds to the stack's floor.
One client alone, one request at a time, gives each request's own cost: with 32 clients on
4 sync workers, most of the latency is waiting for a worker, so it scales with that cost.
"""

from __future__ import annotations

import json
from typing import Any

from shared.config import Settings
from tests.perf.load import Request, run_load
from tests.perf.stack import execute, make_token
from tests.perf.table import Line, ratio

CLIENTS = 32
WARM_UP = 200
REQUESTS = 3000
ALONE = 300  # requests from a single client, for the cost of one request without queueing
PATH = "/api/v1/reports/sessions"
BODY = {"format": "csv", "parameters": {"fromDate": "2026-01-01", "toDate": "2026-01-31"}}


def headers(settings: Settings) -> dict[str, str]:
    """A new user for every request: no relay or worker runs here, so every report stays
    Pending, and one user would soon meet the per-user limit of active reports (429) and
    the refusal of an identical active request (409) that DESIGN.md section 3 asks for."""
    return {"Authorization": f"Bearer {make_token(settings)}", "Content-Type": "application/json"}


def measure(settings: Settings, port: int) -> dict[str, Any]:
    healthz = Request("GET", "/healthz", None, dict, 200)
    post = Request("POST", PATH, json.dumps(BODY).encode(), lambda: headers(settings), 202)
    run_load(port, healthz, WARM_UP, CLIENTS)
    reference = run_load(port, healthz, REQUESTS, CLIENTS)
    run_load(port, post, WARM_UP, CLIENTS)
    result = run_load(port, post, REQUESTS, CLIENTS)
    post_alone = run_load(port, post, ALONE, 1)
    healthz_alone = run_load(port, healthz, ALONE, 1)
    # The relay was not running, so every request left a report and an outbox row behind.
    execute(settings, "TRUNCATE reports, outbox")
    return {
        "clients": CLIENTS,
        "post": result.summary(),
        "healthz": reference.summary(),
        "post_one_client": post_alone.summary(),
        "healthz_one_client": healthz_alone.summary(),
        "p95_ratio": round(result.percentile(95) / reference.percentile(95), 2),
    }


def lines(data: dict[str, Any]) -> list[Line]:
    post, healthz = data["post"], data["healthz"]
    post_alone, healthz_alone = data["post_one_client"], data["healthz_one_client"]
    return [
        Line(
            "POST p95",
            f"{post['p95_ms']:.1f} ms",
            f"GET /healthz p95 {healthz['p95_ms']:.1f} ms",
            ratio(post["p95_ms"], healthz["p95_ms"], "lower"),
        ),
        Line("POST p50", f"{post['p50_ms']:.1f} ms", f"healthz p50 {healthz['p50_ms']:.1f} ms"),
        Line("POST p99", f"{post['p99_ms']:.1f} ms", f"healthz p99 {healthz['p99_ms']:.1f} ms"),
        Line(
            "POST throughput",
            f"{post['per_second']:.0f} req/s",
            f"healthz {healthz['per_second']:.0f} req/s",
            ratio(post["per_second"], healthz["per_second"], "higher"),
        ),
        Line(
            "POST p50, 1 client (no queueing)",
            f"{post_alone['p50_ms']:.1f} ms",
            f"healthz p50 {healthz_alone['p50_ms']:.1f} ms",
            ratio(post_alone["p50_ms"], healthz_alone["p50_ms"], "lower"),
        ),
    ]

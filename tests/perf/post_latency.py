"""POST /api/v1/reports/sessions under 32 concurrent clients, against GET /healthz.

/healthz runs through the same gunicorn, Flask and client but touches no database, so the
ratio shows what the one report transaction (and token check) adds to the stack's floor.
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
BODY = {"format": "csv", "parameters": {"fromDate": "2026-01-01", "toDate": "2026-01-31"}}


def measure(settings: Settings, port: int) -> dict[str, Any]:
    healthz = Request("GET", "/healthz", None, {}, 200)
    post = Request(
        "POST",
        "/api/v1/reports/sessions",
        json.dumps(BODY).encode(),
        {
            "Authorization": f"Bearer {make_token(settings)}",
            "Content-Type": "application/json",
        },
        202,
    )
    run_load(port, healthz, WARM_UP, CLIENTS)
    reference = run_load(port, healthz, REQUESTS, CLIENTS)
    run_load(port, post, WARM_UP, CLIENTS)
    result = run_load(port, post, REQUESTS, CLIENTS)
    # The relay was not running, so every request left a report and an outbox row behind.
    execute(settings, "TRUNCATE reports, outbox")
    return {
        "clients": CLIENTS,
        "post": result.summary(),
        "healthz": reference.summary(),
        "p95_ratio": round(result.percentile(95) / reference.percentile(95), 2),
    }


def lines(data: dict[str, Any]) -> list[Line]:
    post, healthz = data["post"], data["healthz"]
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
    ]

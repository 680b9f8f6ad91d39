"""History pages of an org with a million reports: first page, deep page, the total.

The reports are made by INSERT ... SELECT generate_series (seconds, not a loop) for an org of
their own, spread over USERS users and every status, one a second back from now, then
vacuumed and analysed as autovacuum would have done. Each page is a GET through the real
app (Flask's test client, so no HTTP server's time is in it), as an admin (the org's
history) and as one user (their own); the count(*) that gives `total` is timed on its own.
Goal: every page well under a second.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import psycopg

from api.app import create_app
from shared.config import Settings
from shared.db import libpq_url
from tests.perf.rounds import scaled
from tests.perf.stack import ORG, make_token
from tests.perf.table import Line, verdict

REPORTS = scaled(1_000_000, 100_000)
USERS = 100

PAGE_SIZE = 100
REPEATS = 5
GOAL_SECONDS = 0.5

FILL = f"""
    INSERT INTO reports (id, org, owner_id, report_type, format, parameters, status,
                         created_at, completed_at, request_hash)
    SELECT gen_random_uuid(), '{ORG}', 'user-' || (n % {USERS}), 'sessions', 'csv',
           '{{"fromDate": "2026-01-01", "toDate": "2026-01-31"}}',
           (ARRAY['Completed', 'Failed', 'Cancelled', 'Expired'])[1 + n % 4],
           now() - make_interval(secs => n), now() - make_interval(secs => n) + interval '1s',
           md5(n::text)
    FROM generate_series(1, {REPORTS}) AS n
"""
COUNT = f"SELECT count(*) FROM reports WHERE org = '{ORG}'"


def fill(settings: Settings) -> float:
    started = time.perf_counter()
    with psycopg.connect(libpq_url(settings.database_url), autocommit=True) as connection:
        connection.execute(f"DELETE FROM reports WHERE org = '{ORG}'")
        connection.execute(FILL)
        connection.execute("VACUUM ANALYZE reports")
    return time.perf_counter() - started


def median_seconds(call: Any) -> float:
    timings = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        call()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def measure(settings: Settings) -> dict[str, Any]:
    fill_seconds = fill(settings)
    app = create_app(settings)
    client = app.test_client()
    admin = {"Authorization": f"Bearer {make_token(settings, ('admin',), sub='user-0')}"}
    user = {"Authorization": f"Bearer {make_token(settings, ('analyst',), sub='user-1')}"}
    last_admin_page = REPORTS // PAGE_SIZE
    last_user_page = REPORTS // USERS // PAGE_SIZE
    pages = {
        "admin, first page": (admin, f"page=1&pageSize={PAGE_SIZE}"),
        "admin, last page": (admin, f"page={last_admin_page}&pageSize={PAGE_SIZE}"),
        "admin, first page of one status": (admin, f"status=Failed&pageSize={PAGE_SIZE}"),
        "user, first page": (user, f"page=1&pageSize={PAGE_SIZE}"),
        "user, last page": (user, f"page={last_user_page}&pageSize={PAGE_SIZE}"),
    }

    def get(headers: dict[str, str], query: str) -> None:
        response = client.get(f"/api/v1/reports?{query}", headers=headers)
        if response.status_code != 200 or not response.get_json()["items"]:
            raise RuntimeError(f"{query}: {response.status_code} {response.get_data()[:200]!r}")

    seconds = {name: median_seconds(lambda h=h, q=q: get(h, q)) for name, (h, q) in pages.items()}
    with psycopg.connect(libpq_url(settings.database_url)) as connection:
        seconds["count(*) of the org, alone"] = median_seconds(
            lambda: connection.execute(COUNT).fetchone()
        )
    app.extensions["reportbox"].engine.dispose()
    with psycopg.connect(libpq_url(settings.database_url), autocommit=True) as connection:
        connection.execute(f"DELETE FROM reports WHERE org = '{ORG}'")
    return {"reports": REPORTS, "fill_seconds": round(fill_seconds, 1), "seconds": seconds}


def lines(data: dict[str, Any]) -> list[Line]:
    out = [Line(f"  fill {data['reports']:,} reports", f"{data['fill_seconds']:.1f} s")]
    for name, seconds in data["seconds"].items():
        page = not name.startswith("count")
        out.append(
            Line(
                f"  {name}",
                f"{seconds * 1000:,.0f} ms",
                verdict=verdict(seconds < GOAL_SECONDS) if page else "",
                goal=f"< {GOAL_SECONDS * 1000:.0f} ms" if page else "",
            )
        )
    return out

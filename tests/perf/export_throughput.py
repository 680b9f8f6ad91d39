"""The worker's CSV export, against psql's own \\copy of the same query, and its peak memory.

Each export runs in a fresh process (tests.perf.export_once), so its peak memory belongs
to that export alone. The reference runs the very SQL the worker sends, parameters inlined,
through psql to /dev/null: PostgreSQL's COPY with nothing after it (its time includes
starting psql and connecting, a few milliseconds). The worker's time includes its fixed
costs per export: claiming the report, the S3 multipart calls and the final UPDATE.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any

import psycopg

from api.auth import Principal
from api.reports import admission, service
from shared.catalog import get_report_type
from shared.config import Settings
from shared.db import libpq_url, make_engine
from tests.perf.stack import ORG, ROOT
from tests.perf.table import Line, ratio
from tests.processes import process_env

REPORT_TYPE = "sessions"


@dataclass(frozen=True)
class Case:
    name: str
    from_date: str
    to_date: str

    @property
    def parameters(self) -> dict[str, str]:
        return {"fromDate": self.from_date, "toDate": self.to_date}


CASES = (
    Case("whole year", "2026-01-01", "2026-12-31"),  # every one of the million sessions
    Case("36 days", "2026-01-01", "2026-02-05"),  # about a tenth of them
)

# What a worker process weighs before it exports anything: export_once's imports alone.
BASELINE = "from tests.perf.export_once import peak_rss_kb; print(peak_rss_kb())"


def measure(settings: Settings) -> dict[str, Any]:
    env = process_env(settings)
    results = {case.name: measure_case(settings, env, case) for case in CASES}
    big, small = (results[case.name] for case in CASES)
    return {
        "cases": results,
        "baseline_rss_kb": int(run(env, [sys.executable, "-c", BASELINE]).stdout),
        "rss_ratio_big_to_small": round(
            big["worker"]["max_rss_kb"] / small["worker"]["max_rss_kb"], 3
        ),
    }


def measure_case(settings: Settings, env: dict[str, str], case: Case) -> dict[str, Any]:
    report_id = request_report(settings, case)
    copy_command = psql_copy_command(settings, case)
    run(env, copy_command)  # warms the cache (and sets hint bits) for both sides alike
    started = time.perf_counter()
    copied = run(env, copy_command)
    psql_seconds = time.perf_counter() - started
    psql_rows = int(copied.stdout.split()[-1])  # psql reports "COPY <rows>"

    exported = json.loads(
        run(env, [sys.executable, "-m", "tests.perf.export_once", str(report_id)]).stdout
    )
    if exported["rows"] != psql_rows:
        raise RuntimeError(f"{case.name}: worker wrote {exported['rows']} rows, psql {psql_rows}")
    worker_rate = exported["rows"] / exported["seconds"]
    psql_rate = psql_rows / psql_seconds
    return {
        "parameters": case.parameters,
        "worker": {**exported, "rows_per_second": round(worker_rate, 1)},
        "psql": {
            "seconds": round(psql_seconds, 3),
            "rows": psql_rows,
            "rows_per_second": round(psql_rate, 1),
        },
        "ratio": round(worker_rate / psql_rate, 3),
    }


def request_report(settings: Settings, case: Case, format_name: str = "csv") -> uuid.UUID:
    """A Pending report, written as the API writes it (its outbox row is never relayed here)."""
    report_type = get_report_type(REPORT_TYPE)
    parameters = service.validate_request(report_type, format_name, case.parameters)
    engine = make_engine(settings, pool_size=1)
    try:
        principal = Principal(f"bench-admin-{uuid.uuid4().hex[:6]}", ORG, frozenset({"admin"}))
        accepted = admission.admit(engine, principal, report_type, format_name, parameters)
    finally:
        engine.dispose()
    return accepted.report_id


def psql_copy_command(settings: Settings, case: Case) -> list[str]:
    query = get_report_type(REPORT_TYPE).query(ORG, case.parameters)
    url = libpq_url(settings.source_database_url)
    with psycopg.connect(url) as connection:
        sql = psycopg.ClientCursor(connection).mogrify(query.sql, query.params)
    one_line = " ".join(sql.split())  # psql's \copy reads its argument up to the end of line
    return [
        "psql",
        "-X",
        "-v",
        "ON_ERROR_STOP=1",
        url,
        "-c",
        f"\\copy ({one_line}) to /dev/null csv header",
    ]


def run(
    env: dict[str, str], command: list[str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    # PGTZ: the worker sets its session to UTC; psql should format timestamps the same way.
    answer = subprocess.run(
        command,
        cwd=ROOT,
        env={**env, "PGTZ": "UTC"},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if answer.returncode != 0:
        raise RuntimeError(f"{command[:3]} failed ({answer.returncode}):\n{answer.stderr[-2000:]}")
    return answer


def lines(data: dict[str, Any]) -> list[Line]:
    out = []
    for name, case in data["cases"].items():
        worker, psql = case["worker"], case["psql"]
        out.append(
            Line(
                f"CSV {name}: {worker['rows']:,} rows, {worker['bytes'] / 1e6:.0f} MB",
                f"{worker['rows_per_second']:,.0f} rows/s ({worker['seconds']:.2f} s)",
                f"psql \\copy {psql['rows_per_second']:,.0f} rows/s ({psql['seconds']:.2f} s)",
                ratio(worker["rows_per_second"], psql["rows_per_second"], "higher"),
            )
        )
    big, small = (data["cases"][case.name]["worker"]["max_rss_kb"] for case in CASES)
    out.append(
        Line(
            "peak RSS, whole year vs 36 days",
            f"{big / 1024:.0f} MiB vs {small / 1024:.0f} MiB",
            f"imports only {data['baseline_rss_kb'] / 1024:.0f} MiB",
            f"{data['rss_ratio_big_to_small']:.2f} (1.0 = flat)",
        )
    )
    return out

"""The worker's CSV export, against psql's own \\copy of the same query, and its peak memory.

Each export runs in a fresh process (tests.perf.export_once), so its peak memory belongs
to that export alone. The reference (the bar's B) runs the report's query, parameters
inlined, through psql to /dev/null: PostgreSQL's COPY with nothing after it (its time
includes starting psql and connecting, a few milliseconds). A second reference copies the
worker's own projection of it (RFC 3339 timestamps, formula neutralisation), so that it
writes the very bytes the worker stores: the ratio to it is what the worker's own path
costs. The worker's time includes its fixed costs per export: claiming the report, the
S3 calls and the final UPDATE.
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
from tests.perf.profiling import profiled
from tests.perf.rounds import alternate, median_ratio, summarise
from tests.perf.stack import ORG, ROOT
from tests.perf.table import Line, ratio, verdict
from tests.processes import process_env
from worker.formats.csv import CsvFormat

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
    results = {
        case.name: measure_case(settings, env, case, with_pandas=index == 0)
        for index, case in enumerate(CASES)
    }
    big, small = (results[case.name] for case in CASES)
    big_rss, small_rss = (side["worker"]["max_rss_kb"]["median"] for side in (big, small))
    return {
        "cases": results,
        "baseline_rss_kb": int(run(env, [sys.executable, "-c", BASELINE]).stdout),
        "rss_ratio_big_to_small": round(big_rss / small_rss, 3),
        "rss_growth_mib": round((big_rss - small_rss) / 1024, 1),
    }


def export_with_worker(settings: Settings, env: dict[str, str], case: Case) -> dict[str, Any]:
    report_id = request_report(settings, case)
    argv = [sys.executable, "-m", "tests.perf.export_once", str(report_id)]
    name = f"export-{case.name.replace(' ', '-')}"
    printed = run(env, profiled(argv, name)).stdout.splitlines()  # py-spy adds lines
    exported = json.loads(next(line for line in reversed(printed) if line.startswith("{")))
    return {**exported, "rows_per_second": round(exported["rows"] / exported["seconds"], 1)}


def copy_with_psql(env: dict[str, str], copy_command: list[str]) -> dict[str, Any]:
    started = time.perf_counter()
    copied = run(env, copy_command)
    seconds = time.perf_counter() - started
    rows = int(copied.stdout.split()[-1])  # psql reports "COPY <rows>"
    return {"seconds": round(seconds, 3), "rows": rows, "rows_per_second": round(rows / seconds, 1)}


def export_with_pandas(env: dict[str, str], case: Case) -> dict[str, Any]:
    argv = [sys.executable, "-m", "tests.perf.pandas_reference", case.from_date, case.to_date]
    exported = json.loads(run(env, argv).stdout)
    return {**exported, "rows_per_second": round(exported["rows"] / exported["seconds"], 1)}


def measure_case(
    settings: Settings, env: dict[str, str], case: Case, with_pandas: bool
) -> dict[str, Any]:
    copy_command = psql_copy_command(settings, case)
    same_bytes_command = psql_copy_command(settings, case, same_bytes=True)
    run(env, copy_command)  # warms the cache (and sets hint bits) for every side alike
    sides = {
        "worker": lambda: export_with_worker(settings, env, case),
        "psql": lambda: copy_with_psql(env, copy_command),
        "psql_same_bytes": lambda: copy_with_psql(env, same_bytes_command),
    }
    if with_pandas:
        sides["pandas"] = lambda: export_with_pandas(env, case)
    runs = alternate(sides)
    rows = {run_["rows"] for side in runs.values() for run_ in side}
    if len(rows) != 1:
        raise RuntimeError(f"{case.name}: the sides wrote different row counts {rows}")
    keys = {
        "worker": ("rows_per_second", "seconds", "max_rss_kb"),
        "psql": ("rows_per_second", "seconds"),
        "psql_same_bytes": ("rows_per_second", "seconds"),
    }
    keys["pandas"] = keys["worker"]
    summary = {name: summarise(side, keys[name]) for name, side in runs.items()}
    out = {
        "parameters": case.parameters,
        "rows": rows.pop(),
        "bytes": runs["worker"][0]["bytes"],
        **summary,
        "ratio": median_ratio(summary["worker"], summary["psql"], "rows_per_second"),
        "ratio_same_bytes": median_ratio(
            summary["worker"], summary["psql_same_bytes"], "rows_per_second"
        ),
    }
    if with_pandas:
        out["speed_vs_pandas"] = median_ratio(
            summary["worker"], summary["pandas"], "rows_per_second"
        )
        out["memory_vs_pandas"] = median_ratio(summary["worker"], summary["pandas"], "max_rss_kb")
    return out


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


def psql_copy_command(settings: Settings, case: Case, same_bytes: bool = False) -> list[str]:
    r"""psql's \copy of the report's query; with same_bytes, of the very projection the
    worker's COPY sends (RFC 3339 timestamps, formula neutralisation), so both write the
    same file and only what runs around the COPY differs."""
    query = get_report_type(REPORT_TYPE).query(ORG, case.parameters)
    url = libpq_url(settings.source_database_url)
    with psycopg.connect(url) as connection:
        select = query.sql
        if same_bytes:
            connection.execute("SET TIME ZONE 'UTC'")
            statement = CsvFormat().statement(connection.cursor(), query).as_string(connection)
            select = statement[len("COPY (") : statement.rindex(") TO STDOUT")]
        sql = psycopg.ClientCursor(connection).mogrify(select, query.params)
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


def _rate(side: dict[str, Any]) -> str:
    rate = side["rows_per_second"]
    return f"{rate['median']:,.0f} rows/s ({rate['min']:,.0f}-{rate['max']:,.0f})"


def lines(data: dict[str, Any]) -> list[Line]:
    out = []
    for name, case in data["cases"].items():
        worker, psql = case["worker"], case["psql"]
        out.append(
            Line(
                f"CSV {name}: {case['rows']:,} rows, {case['bytes'] / 1e6:.0f} MB",
                _rate(worker),
                f"psql \\copy {_rate(psql)}",
                ratio(
                    worker["rows_per_second"]["median"], psql["rows_per_second"]["median"], "higher"
                ),
                verdict(case["ratio"] >= 0.9),
                "A >= 0.90 B rows/s",
            )
        )
        same = case["psql_same_bytes"]
        out.append(
            Line(
                "  psql \\copy of the worker's own projection (the same bytes)",
                "",
                f"psql \\copy {_rate(same)}",
                ratio(
                    worker["rows_per_second"]["median"], same["rows_per_second"]["median"], "higher"
                ),
            )
        )
        if "pandas" in case:
            pandas = case["pandas"]
            speed, memory = case["speed_vs_pandas"], case["memory_vs_pandas"]
            met = speed >= 5 and memory <= 0.2
            out.append(
                Line(
                    f"  against pandas read_sql + to_csv + put_object, {name}",
                    f"{speed:.1f}x faster, {memory:.2f} of the memory",
                    f"pandas {_rate(pandas)}, {pandas['max_rss_kb']['median'] / 1024:.0f} MiB",
                    "",
                    verdict(met),
                    ">= 5x faster, <= 1/5 memory",
                )
            )
    big, small = (data["cases"][case.name]["worker"]["max_rss_kb"]["median"] for case in CASES)
    out.append(
        Line(
            f"peak RSS, {CASES[0].name} vs {CASES[1].name}",
            f"{big / 1024:.0f} MiB vs {small / 1024:.0f} MiB (+{data['rss_growth_mib']:.0f} MiB)",
            f"imports only {data['baseline_rss_kb'] / 1024:.0f} MiB",
            f"{data['rss_ratio_big_to_small']:.2f} (1.0 = flat)",
            verdict(data["rss_growth_mib"] <= 20),
            "within 20 MB",
        )
    )
    return out

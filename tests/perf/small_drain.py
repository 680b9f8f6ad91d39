"""Small reports: a burst of 2,000 one-day sessions reports from 32 users, drained by one
relay and one worker, then two workers: reports/s and the worker's CPU ms per report.

The burst is written in one transaction with the API's own statement (admission.ADMIT),
so every report becomes visible at the same commit, and the clock runs from that commit
until the last report is Completed. On 2 cores the machine saturates, so the drain time
ratio of 1 and 2 workers says little; the CPU per report is the figure that carries to
bigger machines. Goal: <= 3 ms of worker CPU per report.
"""

from __future__ import annotations

import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import text

from api.auth import Principal
from api.reports import admission, service
from infra.local.processes import ManagedProcess
from shared.catalog import get_report_type
from shared.config import Settings
from shared.db import libpq_url, make_engine
from shared.demo import COUNTRIES, DEVICES
from shared.messages import ReportRequested
from tests.perf.cpu import CpuShares, format_shares, pids_of
from tests.perf.notify_latency import wait_until_listening
from tests.perf.profiling import PROFILE, profiled, stop_profiled
from tests.perf.rounds import alternate, median_ratio, scaled, summarise
from tests.perf.stack import ORG, broker_channel, clear_reports, purge_work_queue
from tests.perf.table import Line, verdict
from tests.perf.tokens import FIRST_DAY, USERS
from tests.processes import process_env, start_relay

REPORTS = scaled(2000, 200)
GIVE_UP_SECONDS = 300
PROGRESS = text(
    "SELECT count(*) FILTER (WHERE status IN ('Completed', 'Failed', 'Cancelled')) AS done,"
    " count(*) FILTER (WHERE status = 'Completed') AS completed, avg(row_count) AS rows"
    " FROM reports"
)


def burst_parameters(n: int) -> dict[str, str]:
    """Report n's one-day window, country and device; no user asks for the same twice."""
    window = n // USERS
    day = FIRST_DAY.toordinal() + window % 365
    day_text = type(FIRST_DAY).fromordinal(day).isoformat()
    country = COUNTRIES[(window // 365) % len(COUNTRIES)]
    return {
        "fromDate": day_text,
        "toDate": day_text,
        "country": country,
        "device": DEVICES[n % len(DEVICES)],
    }


def write_burst(settings: Settings) -> float:
    """REPORTS reports and their outbox rows in one transaction; the time of its commit."""
    report_type = get_report_type("sessions")
    with psycopg.connect(libpq_url(settings.database_url)) as connection:
        for n in range(REPORTS):
            parameters = service.validate_request(report_type, "csv", burst_parameters(n))
            principal = Principal(f"bench-drain-{n % USERS}", ORG, frozenset({"analyst"}))
            message = ReportRequested.new(uuid.uuid4())
            values = admission.admit_parameters(principal, report_type, "csv", parameters, message)
            connection.execute(admission.ADMIT, values)
        connection.commit()
    return time.perf_counter()


def wait_for_consumers(settings: Settings, count: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with broker_channel(settings) as channel:
            declared = channel.queue_declare(settings.work_queue, passive=True)
        if declared.method.consumer_count >= count:
            return
        time.sleep(0.2)
    raise RuntimeError(f"{count} workers did not start consuming")


def drain(settings: Settings, work_dir: Path, workers: int) -> dict[str, Any]:
    clear_reports(settings)
    purge_work_queue(settings)
    relay = start_relay(settings, work_dir, name=f"relay-drain-{workers}")
    started = [
        ManagedProcess(
            f"worker-{i}",
            profiled([sys.executable, "-m", "worker"], f"worker-small-{workers}-{i}"),
            process_env(settings),
            work_dir,
        )
        for i in range(workers)
    ]
    engine = make_engine(settings, pool_size=1)
    try:
        wait_until_listening(settings, timeout=60)
        wait_for_consumers(settings, workers)
        groups = {"relay": lambda: pids_of(relay.pid)}
        for i, worker in enumerate(started):
            groups[f"worker-{i}"] = lambda pid=worker.pid: pids_of(pid)
        with CpuShares(groups) as cpu:
            committed = write_burst(settings)
            deadline = time.monotonic() + GIVE_UP_SECONDS
            while True:
                with engine.connect() as connection:
                    progress = connection.execute(PROGRESS).one()
                if progress.done >= REPORTS or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            seconds = time.perf_counter() - committed
    finally:
        if PROFILE:
            for worker in started:
                stop_profiled(worker.pid)
        codes = [process.stop() for process in (relay, *started)]
        engine.dispose()
    if progress.completed != REPORTS or any(codes):
        raise RuntimeError(f"{progress.completed}/{REPORTS} Completed; exit codes {codes}")
    worker_cpu = sum(cpu.cpu_seconds(f"worker-{i}") for i in range(workers))
    return {
        "seconds": round(seconds, 2),
        "per_second": round(REPORTS / seconds, 1),
        "worker_cpu_ms_per_report": round(worker_cpu * 1000 / REPORTS, 2),
        "relay_cpu_ms_per_report": round(cpu.cpu_seconds("relay") * 1000 / REPORTS, 2),
        "mean_rows": round(float(progress.rows), 1),
        "cpu": cpu.shares(),
    }


# Not an A/B pair against a reference, and a drain of 2,000 takes most of a minute: two
# rounds of each keep the whole bench within its fifteen minutes.
ROUNDS = 2


def measure(settings: Settings, work_dir: Path) -> dict[str, Any]:
    runs = alternate(
        {
            "1_worker": lambda: drain(settings, work_dir, 1),
            "2_workers": lambda: drain(settings, work_dir, 2),
        },
        ROUNDS,
    )
    clear_reports(settings)
    keys = (
        "seconds",
        "per_second",
        "worker_cpu_ms_per_report",
        "relay_cpu_ms_per_report",
        "mean_rows",
    )
    summary = {name: summarise(side, keys) for name, side in runs.items()}
    return {
        "reports": REPORTS,
        "users": USERS,
        **summary,
        "drain_time_ratio_2_to_1": median_ratio(
            summary["2_workers"], summary["1_worker"], "seconds"
        ),
    }


def lines(data: dict[str, Any]) -> list[Line]:
    one, two = data["1_worker"], data["2_workers"]
    cpu_ms = one["worker_cpu_ms_per_report"]["median"]
    relay_ms = one["relay_cpu_ms_per_report"]["median"]
    rows = one["mean_rows"]["median"]
    return [
        Line(
            f"{data['reports']:,} one-day reports (~{rows:.0f} rows), 1 worker",
            f"{one['per_second']['median']:.0f} reports/s ({one['seconds']['median']:.1f} s)",
            f"worker CPU {cpu_ms:.1f} ms/report (relay {relay_ms:.1f})",
            "",
            verdict(cpu_ms <= 3),
            "<= 3 ms worker CPU per report",
        ),
        Line("  CPU (cores)", format_shares(one["cpu"])),
        Line(
            "  scale-out: 2 workers",
            f"{two['per_second']['median']:.0f} reports/s ({two['seconds']['median']:.1f} s)",
            f"worker CPU {two['worker_cpu_ms_per_report']['median']:.1f} ms/report",
            f"drain time 2/1 = {data['drain_time_ratio_2_to_1']:.2f}",
        ),
        Line("  CPU (cores)", format_shares(two["cpu"])),
    ]

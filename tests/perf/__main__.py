"""make bench: Reportbox's quality bars (DESIGN.md section 7), each next to its own reference.

Every number is compared with an independent limit measured in the same run on the same
machine (a bare Flask view, raw pika, psql's \\copy), A and B alternating, so the ratios
mean something on any machine. Every process involved has its CPU share measured. Prints
a table, writes .run/bench.json and .run/bench.md, and exits non-zero only when something
broke, never because a number is slow. BENCH_QUICK=1 makes every count small.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.perf import (
    email_delivery,
    end_to_end,
    export_throughput,
    format_throughput,
    history_pages,
    notify_latency,
    open_loop,
    post_stages,
    post_throughput,
    relay_drain,
    relay_lag,
    scheduler_burst,
    scrape_cost,
    servers,
    small_drain,
    webhook_dispatch,
)
from tests.perf.rounds import QUICK, ROUNDS
from tests.perf.stack import ROOT, SESSIONS, bench_settings
from tests.perf.table import Line, render, render_markdown
from tests.perf.wrk import require_wrk

OUTPUT = ROOT / ".run" / "bench.json"
MARKDOWN = ROOT / ".run" / "bench.md"
# The documentation's page of the latest full run: written here, never pasted by hand.
DOCS_PAGE = ROOT / "docs" / "benchmarks-latest.md"

# (key in bench.json, heading, module): in the order of DESIGN.md's bars.
STEPS = (
    ("post_throughput", "1. POST throughput, closed loop (wrk)", post_throughput),
    ("post_stages", "1b. One POST, stage by stage (in process, one call at a time)", post_stages),
    ("open_loop", "2. POST latency, open loop", open_loop),
    ("notify_latency", "3. NOTIFY wake-up (relay polls every 5 s)", notify_latency),
    ("relay_lag", "4. Relay lag at 200 req/s", relay_lag),
    ("relay_drain", "5. Relay drain", relay_drain),
    ("export_throughput", "6. Worker CSV export (fresh process per export)", export_throughput),
    ("end_to_end", "7. End to end, one 1,000-row report at a time", end_to_end),
    ("small_drain", "8. Small reports drain, scale-out", small_drain),
    ("format_throughput", "9. Every format (fresh process per export)", format_throughput),
    ("scrape_cost", "10. The API's /metrics: database cost of a scrape", scrape_cost),
    ("history_pages", "11. History pages of an org with a million reports", history_pages),
    (
        "scheduler_burst",
        "12. Scheduler: definitions due at one instant, two relays",
        scheduler_burst,
    ),
    ("webhook_dispatch", "13. Webhook dispatch to a loopback receiver", webhook_dispatch),
    ("email_delivery", "14. Email deliveries with a 1 MiB attachment", email_delivery),
)

HTTP_STEPS = {"post_throughput", "open_loop", "notify_latency", "relay_lag", "scheduler_burst"}

log = logging.getLogger("bench")


class Bench:
    def __init__(self) -> None:
        self.results: dict[str, Any] = {}
        self.errors: dict[str, str] = {}
        self.seconds: dict[str, float] = {}

    def step(self, key: str, measure: Callable[..., dict[str, Any]], *args: Any) -> None:
        """Run one measurement; a failure is recorded and the others still run."""
        log.info("measuring %s", key)
        started = time.perf_counter()
        try:
            self.results[key] = measure(*args)
        except Exception:
            self.errors[key] = traceback.format_exc()
            log.error("%s failed:\n%s", key, self.errors[key])
        # A wrong result (a run made twice, say) is an error, though its numbers are shown.
        problems = self.results.get(key, {}).get("problems")
        if problems:
            self.errors[key] = "wrong result: " + "; ".join(problems)
            log.error("%s: %s", key, self.errors[key])
        self.seconds[key] = round(time.perf_counter() - started, 1)
        log.info("%s took %.1f s", key, self.seconds[key])


def selected_steps() -> set[str]:
    """BENCH_ONLY=relay_drain,small_drain runs only those steps (for working on one bar)."""
    known = {key for key, _, _ in STEPS}
    only = {key.strip() for key in os.environ.get("BENCH_ONLY", "").split(",") if key.strip()}
    unknown = only - known
    if unknown:
        raise SystemExit(f"BENCH_ONLY: unknown steps {sorted(unknown)}; known: {sorted(known)}")
    return only or known


def measure_all(bench: Bench, only: set[str]) -> None:
    log.info("creating the bench database with %s sessions", f"{SESSIONS:,}")
    with (
        bench_settings() as settings,
        tempfile.TemporaryDirectory(prefix="reportbox-bench-") as work,
    ):
        work_dir = Path(work)

        def step(key: str, measure: Callable[..., dict[str, Any]], *args: Any) -> None:
            if key in only:
                bench.step(key, measure, *args)

        # The HTTP steps share two gunicorns; they are stopped before the CPU-heavy steps.
        if only & HTTP_STEPS:
            with servers.both(settings, work_dir) as (api, bare):
                step("post_throughput", post_throughput.measure, settings, api, bare, work_dir)
                step("open_loop", open_loop.measure, settings, api, work_dir)
                step("notify_latency", notify_latency.measure, settings, api.port)
                step("relay_lag", relay_lag.measure, settings, api, work_dir)
                step("scheduler_burst", scheduler_burst.measure, settings, api, work_dir)
        step("post_stages", post_stages.measure, settings)
        step("relay_drain", relay_drain.measure, settings, work_dir)
        step("export_throughput", export_throughput.measure, settings)
        step("end_to_end", end_to_end.measure, settings, work_dir)
        step("small_drain", small_drain.measure, settings, work_dir)
        step("format_throughput", format_throughput.measure, settings)
        step("scrape_cost", scrape_cost.measure, settings, work_dir)
        step("history_pages", history_pages.measure, settings)
        step("webhook_dispatch", webhook_dispatch.measure, settings, work_dir)
        step("email_delivery", email_delivery.measure, settings, work_dir)


def sections(bench: Bench, only: set[str]) -> list[tuple[str, list[Line]]]:
    sections: list[tuple[str, list[Line]]] = []
    for key, heading, module in STEPS:
        if key not in only:
            continue
        if key in bench.results:
            sections.append((heading, module.lines(bench.results[key])))
        else:
            sections.append((heading, [Line("FAILED", "see the error below")]))
    return sections


def git_commit() -> str | None:
    answer = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    return answer.stdout.strip() or None


def write_json(bench: Bench, started_at: datetime, seconds: float, load: tuple) -> None:
    OUTPUT.parent.mkdir(exist_ok=True)
    document = {
        "started_at": started_at.isoformat(),
        "seconds": round(seconds, 1),
        "commit": git_commit(),
        "cpus": os.cpu_count(),
        "load_average_at_start": [round(value, 2) for value in load],
        "step_seconds": bench.seconds,
        "results": bench.results,
        "errors": bench.errors,
    }
    OUTPUT.write_text(json.dumps(document, indent=2) + "\n")


def write_docs_page(table: str, started_at: datetime) -> None:
    """A full, clean run replaces the documentation's latest-run page (commit it with the code)."""
    DOCS_PAGE.write_text(
        "# Latest benchmark run\n\n"
        f"One `make bench` run on this machine ({started_at:%Y-%m-%dT%H:%M} UTC, commit "
        f"{git_commit()}), written by `make bench` itself. Runs differ by up to 15 % from one "
        "to the next here; the ratios move less than the rates. How each bar is measured: "
        "[Benchmarks](benchmarks.md).\n\n" + table
    )


def stop_on_sigterm() -> None:
    # SIGTERM would end the process without running the finally blocks that drop the
    # database and stop gunicorn and SeaweedFS; as KeyboardInterrupt it unwinds like Ctrl-C.
    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def main() -> int:
    # Progress from the benchmark and the demo fill; only warnings from everything else.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    for name in ("bench", "shared.demo", "tests.perf"):
        logging.getLogger(name).setLevel(logging.INFO)
    stop_on_sigterm()
    only = selected_steps()
    if only & HTTP_STEPS:
        require_wrk()
    bench = Bench()
    started_at, load = datetime.now(UTC), os.getloadavg()
    started = time.perf_counter()
    measure_all(bench, only)
    seconds = time.perf_counter() - started
    write_json(bench, started_at, seconds, load)

    print()
    print(render(sections(bench, only)))
    footer = (
        f"{os.cpu_count()} CPUs, load average {load[0]:.2f} at start, {seconds:.0f} s in all; "
        f"medians of {ROUNDS} alternating rounds (2 for the small drain; min-max in brackets). "
        "CPU shares in cores: "
        "postgres and rabbitmq count every process of the shared servers."
    )
    table = render_markdown(sections(bench, only)) + "\n\n" + footer + "\n"
    MARKDOWN.write_text(table)
    if only == {key for key, _, _ in STEPS} and not bench.errors and not QUICK:
        write_docs_page(table, started_at)
    print(f"\n{footer}\nNumbers: {OUTPUT.relative_to(ROOT)}, table: {MARKDOWN.relative_to(ROOT)}")
    for key, error in bench.errors.items():
        print(f"\n{key} FAILED:\n{error}", file=sys.stderr)
    return 1 if bench.errors else 0


if __name__ == "__main__":
    sys.exit(main())

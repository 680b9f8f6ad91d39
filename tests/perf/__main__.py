"""make bench: Reportbox's quality bars (DESIGN.md section 7), each next to its own reference.

Every number is compared with a limit measured in the same run on the same machine, so
the ratios mean something on any machine. Prints a table, writes .run/bench.json, and
exits non-zero only when something broke, never because a number is slow.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared.config import Settings
from tests.perf import (
    export_throughput,
    format_throughput,
    notify_latency,
    post_latency,
    relay_throughput,
)
from tests.perf.stack import ROOT, SESSIONS, bench_settings
from tests.perf.table import Line, render
from tests.processes import start_api, wait_until_ready
from tests.services import free_port

API_WORKERS = 4
OUTPUT = ROOT / ".run" / "bench.json"

# (key in bench.json, heading, module): in the order of DESIGN.md's bars.
STEPS = (
    ("post_latency", "1. POST latency, 32 concurrent clients", post_latency),
    ("export_throughput", "2. Worker CSV export (fresh process per export)", export_throughput),
    ("relay_throughput", "3. Relay throughput", relay_throughput),
    ("notify_latency", "4. NOTIFY wake-up (relay polls every 5 s)", notify_latency),
    ("format_throughput", "5. Every format (fresh process per export)", format_throughput),
)

log = logging.getLogger("bench")


class Bench:
    def __init__(self) -> None:
        self.results: dict[str, Any] = {}
        self.errors: dict[str, str] = {}

    def step(self, key: str, measure: Callable[..., dict[str, Any]], *args: Any) -> None:
        """Run one measurement; a failure is recorded and the others still run."""
        log.info("measuring %s", key)
        started = time.perf_counter()
        try:
            self.results[key] = measure(*args)
        except Exception:
            self.errors[key] = traceback.format_exc()
            log.error("%s failed:\n%s", key, self.errors[key])
        log.info("%s took %.1f s", key, time.perf_counter() - started)


@contextlib.contextmanager
def running_api(settings: Settings, bench: Bench) -> Iterator[int]:
    """gunicorn serving the app on a free port; stopped by PID, and it must exit cleanly."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="reportbox-bench-") as log_dir:
        api = start_api(settings, port, Path(log_dir), workers=API_WORKERS)
        try:
            wait_until_ready(f"http://127.0.0.1:{port}", api)
            yield port
        finally:
            code = api.stop()
            if code != 0:
                bench.errors["api"] = f"gunicorn exited with {code}:\n{api.log()[-3000:]}"


def measure_all(bench: Bench) -> None:
    log.info("creating the bench database with %s sessions", f"{SESSIONS:,}")
    with bench_settings() as settings:
        # Steps 1 and 4 share one gunicorn; it is stopped before the CPU-heavy steps.
        with running_api(settings, bench) as port:
            bench.step("post_latency", post_latency.measure, settings, port)
            bench.step("notify_latency", notify_latency.measure, settings, port)
        bench.step("relay_throughput", relay_throughput.measure, settings)
        bench.step("export_throughput", export_throughput.measure, settings)
        bench.step("format_throughput", format_throughput.measure, settings)


def table(bench: Bench) -> str:
    sections: list[tuple[str, list[Line]]] = []
    for key, heading, module in STEPS:
        if key in bench.results:
            sections.append((heading, module.lines(bench.results[key])))
        else:
            sections.append((heading, [Line("FAILED", "see the error below")]))
    return render(sections)


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
        "results": bench.results,
        "errors": bench.errors,
    }
    OUTPUT.write_text(json.dumps(document, indent=2) + "\n")


def stop_on_sigterm() -> None:
    # SIGTERM would end the process without running the finally blocks that drop the
    # database and stop gunicorn and moto; as KeyboardInterrupt it unwinds like Ctrl-C.
    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def main() -> int:
    # Progress from the benchmark and the demo fill; only warnings from everything else.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    for name in ("bench", "shared.demo", "tests.perf"):
        logging.getLogger(name).setLevel(logging.INFO)
    stop_on_sigterm()
    bench = Bench()
    started_at, load = datetime.now(UTC), os.getloadavg()
    started = time.perf_counter()
    measure_all(bench)
    seconds = time.perf_counter() - started
    write_json(bench, started_at, seconds, load)

    print()
    print(table(bench))
    print(
        f"\n{os.cpu_count()} CPUs, load average {load[0]:.2f} at start, {seconds:.0f} s in all. "
        "The 32 client threads share the CPUs with gunicorn, PostgreSQL and RabbitMQ,\n"
        "so step 1 measures the whole machine under load, not the server alone. "
        f"Numbers: {OUTPUT.relative_to(ROOT)}"
    )
    for key, error in bench.errors.items():
        print(f"\n{key} FAILED:\n{error}", file=sys.stderr)
    return 1 if bench.errors else 0


if __name__ == "__main__":
    sys.exit(main())

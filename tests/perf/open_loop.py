"""POST latency in an open loop: requests start on a fixed schedule, whatever the answers do.

wrk2 is not in Debian, and wrk paces only by think time (a closed loop), so this is a small
asyncio generator in a process of its own; its CPU share is measured and shown with the
result, to prove it was not the bottleneck. Each latency runs from the request's scheduled
start, not from when it was sent, so a stalled server cannot hide its queue (no coordinated
omission). Goal: p95 <= 15 ms, p99 <= 30 ms, no errors.

python -m tests.perf.open_loop PORT TOKENS_FILE RATE SECONDS prints one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shared.config import Settings
from tests.perf.cpu import CpuShares, format_shares, pids_of
from tests.perf.rounds import scaled
from tests.perf.servers import Server
from tests.perf.stack import clear_reports
from tests.perf.table import Line, verdict
from tests.perf.tokens import USERS, unique_body, write_tokens

RATE = 200
SECONDS = scaled(60, 5)
TIMEOUT = 10.0
PATH = "/api/v1/reports/sessions"


def build_request(port: int, token: str, body: bytes) -> bytes:
    head = (
        f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


async def one(port: int, request: bytes, scheduled: float) -> tuple[float, int]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        status_line = await reader.readline()
        await reader.read()  # gunicorn's sync workers close after each response
    finally:
        writer.close()
    return time.perf_counter() - scheduled, int(status_line.split()[1])


async def generate(port: int, tokens: list[str], rate: int, seconds: float) -> dict[str, Any]:
    total = int(rate * seconds)
    requests = []
    for n in range(total):  # built before the clock starts
        user, body = unique_body(n, len(tokens))
        requests.append(build_request(port, tokens[user], body))
    latencies: list[float] = []
    failures: dict[str, int] = {}

    async def timed(request: bytes, scheduled: float) -> None:
        try:
            latency, status = await asyncio.wait_for(one(port, request, scheduled), TIMEOUT)
        except (OSError, TimeoutError, ValueError, IndexError) as exc:
            failures[type(exc).__name__] = failures.get(type(exc).__name__, 0) + 1
            return
        if status != 202:
            failures[str(status)] = failures.get(str(status), 0) + 1
        latencies.append(latency * 1000)

    started = time.perf_counter()
    tasks = []
    late = 0
    for n, request in enumerate(requests):
        scheduled = started + n / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -0.005:
            late += 1  # the generator itself fell behind its schedule by more than 5 ms
        tasks.append(asyncio.create_task(timed(request, scheduled)))
    await asyncio.gather(*tasks)
    wall = time.perf_counter() - started
    cuts = statistics.quantiles(latencies, n=100, method="inclusive") if latencies else [0] * 99
    return {
        "rate": rate,
        "requests": total,
        "seconds": round(wall, 2),
        "achieved_per_second": round(len(latencies) / wall, 1),
        "errors": sum(failures.values()),
        "error_kinds": failures,
        "late_starts": late,
        "p50_ms": round(cuts[49], 2),
        "p95_ms": round(cuts[94], 2),
        "p99_ms": round(cuts[98], 2),
        "max_ms": round(max(latencies, default=0), 2),
    }


def run_generator(
    settings: Settings,
    api: Server,
    work_dir: Path,
    seconds: float,
    others: dict[str, Any],
    started: Callable[[], None] = lambda: None,
) -> dict[str, Any]:
    """The generator at RATE against the API for `seconds`; its result and every CPU share.

    `started` is called once the generator runs, for load that must share its window.
    """
    tokens = write_tokens(settings, work_dir / "open-loop-tokens.txt", USERS)
    clear_reports(settings)
    argv = [sys.executable, "-m", "tests.perf.open_loop", str(api.port), str(tokens)]
    generator = subprocess.Popen(
        [*argv, str(RATE), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    groups = {
        "api": lambda: pids_of(api.process.pid),
        "generator": lambda: pids_of(generator.pid),
        **others,
    }
    with CpuShares(groups) as cpu:
        started()
        out, _ = generator.communicate(timeout=seconds + 120)
    if generator.returncode != 0:
        raise RuntimeError(f"the open-loop generator exited with {generator.returncode}")
    return {**json.loads(out.splitlines()[-1]), "cpu": cpu.shares()}


def measure(settings: Settings, api: Server, work_dir: Path) -> dict[str, Any]:
    result = run_generator(settings, api, work_dir, SECONDS, {})
    clear_reports(settings)
    return result


def lines(data: dict[str, Any]) -> list[Line]:
    met = data["p95_ms"] <= 15 and data["p99_ms"] <= 30 and data["errors"] == 0
    return [
        Line(
            f"POST open loop {data['rate']} req/s for {data['seconds']:.0f} s, 32 users",
            f"p50 {data['p50_ms']:.1f} / p95 {data['p95_ms']:.1f} / p99 {data['p99_ms']:.1f} ms",
            f"errors {data['errors']}, late starts {data['late_starts']}",
            "",
            verdict(met),
            "p95 <= 15, p99 <= 30 ms, no errors",
        ),
        Line("  CPU (cores)", format_shares(data["cpu"])),
    ]


def main() -> None:
    port, tokens_file, rate, seconds = sys.argv[1:5]
    tokens = Path(tokens_file).read_text().split()
    print(json.dumps(asyncio.run(generate(int(port), tokens, int(rate), float(seconds)))))


if __name__ == "__main__":
    main()

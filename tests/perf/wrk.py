"""Running wrk (Debian's `wrk` package, native and multi-threaded) and reading its numbers.

The load generator must not be the bottleneck: wrk is C with LuaJIT, and its own CPU
share is measured along with the server's (tests/perf/cpu.py).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).with_name("post.lua")
THREADS = 2  # one per core; more only adds context switches on this machine
MARKER = "WRK_JSON "


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise RuntimeError("wrk is not installed: apt-get install -y wrk (see docs/benchmarks.md)")
    return path


def start_wrk(url: str, tokens_file: Path, connections: int, seconds: float) -> subprocess.Popen:
    argv = [
        require_wrk(),
        "--threads",
        str(min(THREADS, connections)),
        "--connections",
        str(connections),
        "--duration",
        f"{seconds:g}s",
        "--timeout",
        "10s",
        "--script",
        str(SCRIPT),
        url,
        "--",
        str(tokens_file),
        str(min(THREADS, connections)),
    ]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish_wrk(process: subprocess.Popen, seconds: float) -> dict[str, Any]:
    out, err = process.communicate(timeout=seconds + 60)
    if process.returncode != 0:
        raise RuntimeError(f"wrk exited with {process.returncode}: {err[-2000:]}")
    lines = [line for line in out.splitlines() if line.startswith(MARKER)]
    if not lines:
        raise RuntimeError(f"wrk printed no result:\n{out[-2000:]}\n{err[-2000:]}")
    raw = json.loads(lines[-1][len(MARKER) :])
    wall = raw["duration_us"] / 1e6
    errors = sum(raw["errors"].values())
    return {
        "requests": raw["requests"],
        "seconds": round(wall, 2),
        "per_second": round(raw["requests"] / wall, 1),
        "errors": errors,
        "error_kinds": raw["errors"],
        **{f"p{p}_ms": round(raw[f"p{p}_us"] / 1000, 2) for p in (50, 90, 95, 99)},
        "max_ms": round(raw["max_us"] / 1000, 2),
    }

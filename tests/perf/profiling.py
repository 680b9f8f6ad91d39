"""BENCH_PROFILE=1: run a process under py-spy and keep its flame graph under .run/.

For finding out why a bar is missed, not for the numbers: py-spy's sampling costs CPU and
its own process counts with the one it profiles. py-spy (pip install py-spy) is not a
dependency; without it the process runs as usual.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys

import psutil

from tests.perf.stack import ROOT

PROFILE = os.environ.get("BENCH_PROFILE") == "1"
OUTPUT = ROOT / ".run"


def profiled(argv: list[str], name: str) -> list[str]:
    """argv, under `py-spy record` writing .run/profile-NAME.svg when BENCH_PROFILE=1."""
    spy = shutil.which("py-spy") or shutil.which("py-spy", path=os.path.dirname(sys.executable))
    if not PROFILE or spy is None:
        return argv
    OUTPUT.mkdir(exist_ok=True)
    svg = OUTPUT / f"profile-{name}.svg"
    return [spy, "record", "--rate", "200", "--output", str(svg), "--", *argv]


def stop_profiled(pid: int, timeout: float = 30.0) -> None:
    """SIGTERM to the profiled program itself, then wait for py-spy: it writes its graph
    once the program has left, and a SIGTERM to py-spy before that loses the graph."""
    spy = psutil.Process(pid)
    for child in spy.children():
        child.send_signal(signal.SIGTERM)
    try:
        spy.wait(timeout=timeout)
    except psutil.TimeoutExpired:
        pass

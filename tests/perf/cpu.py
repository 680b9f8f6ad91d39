"""CPU share of each process taking part in a measurement, sampled with psutil meanwhile.

A share is CPU seconds over wall seconds: 1.0 is one core busy all the time (this machine
has os.cpu_count() of them). A group is a process and its children (gunicorn's master and
workers, say); children that start or end during the run are caught by sampling every
SAMPLE_SECONDS, so a short-lived child loses at most its last sample's worth.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import psutil

SAMPLE_SECONDS = 0.2

# Every process of the shared services, found by name: their share includes other users'
# load on this machine, so the benchmark reads best on an otherwise idle machine.
SERVICES = {"postgres": ("postgres",), "rabbitmq": ("beam.smp", "erl_child_setup")}


def pids_of(pid: int) -> list[int]:
    try:
        parent = psutil.Process(pid)
        return [pid, *(child.pid for child in parent.children(recursive=True))]
    except psutil.NoSuchProcess:
        return []


def pids_named(names: tuple[str, ...]) -> list[int]:
    return [p.pid for p in psutil.process_iter(["name"]) if p.info["name"] in names]


def _cpu_seconds(pid: int) -> float | None:
    try:
        times = psutil.Process(pid).cpu_times()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    return times.user + times.system


class CpuShares:
    """with CpuShares({"api": lambda: pids_of(api.pid), ...}) as cpu: ...; cpu.shares()"""

    def __init__(self, groups: dict[str, Callable[[], list[int]]]) -> None:
        self._groups = {
            **groups,
            **{name: (lambda names=names: pids_named(names)) for name, names in SERVICES.items()},
        }
        self._first: dict[str, dict[int, float]] = {name: {} for name in self._groups}
        self._last: dict[str, dict[int, float]] = {name: {} for name in self._groups}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)
        self._began = self._ended = 0.0
        self._machine_began: Any = None
        self._machine: Any = None

    def _sample(self) -> None:
        for name, pids in self._groups.items():
            for pid in pids():
                seconds = _cpu_seconds(pid)
                if seconds is None:
                    continue
                self._first[name].setdefault(pid, seconds)
                self._last[name][pid] = seconds

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            self._sample()

    def __enter__(self) -> CpuShares:
        self._sample()
        self._machine_began = psutil.cpu_times()
        self._began = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        self._ended = time.perf_counter()
        end = psutil.cpu_times()
        busy = sum(getattr(end, f) - getattr(self._machine_began, f) for f in end._fields)
        idle = (end.idle - self._machine_began.idle) + (
            getattr(end, "iowait", 0) - getattr(self._machine_began, "iowait", 0)
        )
        self._machine = (busy - idle) / (self._ended - self._began)

    def cpu_seconds(self, name: str) -> float:
        first, last = self._first[name], self._last[name]
        return sum(last[pid] - first[pid] for pid in last)

    def shares(self) -> dict[str, float]:
        """Each group's CPU share over the run, and the whole machine's ("machine")."""
        wall = self._ended - self._began
        out = {name: round(self.cpu_seconds(name) / wall, 2) for name in self._groups}
        out["machine"] = round(self._machine, 2)
        return out


def format_shares(shares: dict[str, float]) -> str:
    """'api 1.52, postgres 0.31, ...' in cores, the busiest first."""
    ordered = sorted(shares.items(), key=lambda item: (item[0] == "machine", -item[1]))
    return ", ".join(f"{name} {share:.2f}" for name, share in ordered)

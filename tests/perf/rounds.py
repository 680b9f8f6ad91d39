"""A and B measured in alternation, several rounds, summarised as median, min and max.

Alternating spreads the machine's drift (other load, caches, autovacuum) over both sides
alike, so their ratio is fairer than the ratio of two back-to-back series.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable
from typing import Any

# BENCH_QUICK=1 makes every count small: for building and debugging the harness only.
QUICK = os.environ.get("BENCH_QUICK") == "1"
ROUNDS = 3


def scaled(full: int | float, quick: int | float) -> Any:
    return quick if QUICK else full


def alternate(
    sides: dict[str, Callable[[], dict[str, Any]]], rounds: int = ROUNDS
) -> dict[str, list[dict[str, Any]]]:
    """Run each side once per round, in the given order; every run's result."""
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in sides}
    for _ in range(rounds):
        for name, measure in sides.items():
            runs[name].append(measure())
    return runs


def spread(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
    }


def summarise(runs: list[dict[str, Any]], keys: tuple[str, ...]) -> dict[str, Any]:
    """{key: {median, min, max}} over the runs, plus the CPU shares' medians."""
    out: dict[str, Any] = {key: spread([run[key] for run in runs]) for key in keys}
    if runs and "cpu" in runs[0]:
        out["cpu"] = {
            name: round(statistics.median(run["cpu"][name] for run in runs), 2)
            for name in runs[0]["cpu"]
        }
    out["runs"] = runs
    return out


def median_ratio(a: dict[str, Any], b: dict[str, Any], key: str) -> float:
    return round(a[key]["median"] / b[key]["median"], 3) if b[key]["median"] else 0.0

"""Which due webhook messages a dispatcher takes: pure.

Each endpoint has at most `endpoint_limit` messages in flight across every dispatcher, so a
slow receiver holds at most that many threads and the rest serve every other endpoint; a
fast one gets several at once instead of one after another.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Candidate:
    """A due message, in due order, and how many of its endpoint's are in flight already."""

    id: uuid.UUID
    endpoint_id: uuid.UUID
    flying: int


def endpoint_limit(per_endpoint: int, threads: int) -> int:
    """WEBHOOK_ENDPOINT_CONCURRENCY, but always below DISPATCHER_CONCURRENCY (so one endpoint
    never holds every thread) unless there is one thread only."""
    return max(1, min(per_endpoint, threads - 1))


def choose(candidates: Iterable[Candidate], free: int, limit: int) -> list[uuid.UUID]:
    """The first due messages, at most `free`, none that would put its endpoint past `limit`."""
    taken: dict[uuid.UUID, int] = {}
    chosen: list[uuid.UUID] = []
    for candidate in candidates:
        if len(chosen) >= free:
            break
        mine = taken.get(candidate.endpoint_id, 0)
        if candidate.flying + mine < limit:
            chosen.append(candidate.id)
            taken[candidate.endpoint_id] = mine + 1
    return chosen

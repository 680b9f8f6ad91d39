"""Which due webhook messages a dispatcher takes, and each endpoint's in-flight limit."""

from __future__ import annotations

import uuid

import pytest

from shared.webhooks.claims import Candidate, choose, endpoint_limit

A, B, C = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


def due(*rows: tuple[uuid.UUID, int]) -> list[Candidate]:
    return [Candidate(uuid.uuid4(), endpoint, flying) for endpoint, flying in rows]


def test_one_endpoint_gets_several_messages_up_to_its_limit():
    rows = due(*[(A, 0)] * 10)
    assert choose(rows, free=20, limit=4) == [row.id for row in rows[:4]]


def test_messages_already_in_flight_anywhere_count_against_the_limit():
    rows = due(*[(A, 3)] * 5)
    assert choose(rows, free=8, limit=4) == [rows[0].id]


def test_an_endpoint_at_its_limit_is_skipped_and_the_next_endpoints_are_served_in_due_order():
    rows = due((A, 4), (A, 4), (B, 0), (C, 1), (B, 0))
    assert choose(rows, free=8, limit=4) == [rows[2].id, rows[3].id, rows[4].id]


def test_never_more_than_the_free_threads():
    rows = due((A, 0), (B, 0), (C, 0), (A, 0))
    assert choose(rows, free=2, limit=4) == [rows[0].id, rows[1].id]


def test_nothing_free_or_nothing_due_takes_nothing():
    assert choose(due((A, 0)), free=0, limit=4) == []
    assert choose([], free=4, limit=4) == []


@pytest.mark.parametrize(
    ("per_endpoint", "threads", "limit"),
    [(8, 32, 8), (8, 8, 7), (10, 3, 2), (8, 2, 1), (8, 1, 1), (1, 32, 1)],
)
def test_the_limit_always_leaves_a_thread_for_other_endpoints(per_endpoint, threads, limit):
    assert endpoint_limit(per_endpoint, threads) == limit

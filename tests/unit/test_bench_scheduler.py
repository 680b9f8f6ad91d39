"""make bench's scheduler step: which results it calls wrong (an error, not a slow number)."""

from __future__ import annotations

from tests.perf.scheduler_burst import run_problems


def result(**changes: object) -> dict:
    right = {
        "definitions": 10,
        "runs": 10,
        "distinct_definitions": 10,
        "without_run": 0,
        "published": 10,
        "queued": 10,
        "runs_by_relay": {"relay-1": 6, "relay-2": 4},
    }
    return {**right, **changes}


def test_one_published_run_per_definition_is_right() -> None:
    assert run_problems(result()) == []


def test_a_definition_run_twice_is_wrong() -> None:
    assert run_problems(result(runs=11, queued=11)) == [
        "1 definitions got more than one run",
        "11 messages in the queue for 10 runs",
    ]


def test_a_definition_without_a_run_or_an_unpublished_run_is_wrong() -> None:
    problems = run_problems(
        result(runs=9, distinct_definitions=9, without_run=1, published=9, queued=9)
    )
    assert problems == [
        "1 of 10 definitions got no run",
        "9 of 10 runs published",
        "9 messages in the queue for 10 runs",
    ]


def test_the_relays_own_counts_must_add_up() -> None:
    assert run_problems(result(runs_by_relay={"relay-1": 10, "relay-2": 10})) == [
        "the relays counted {'relay-1': 10, 'relay-2': 10} runs for 10"
    ]


def test_a_window_without_queue_or_relay_counts_is_judged_on_the_rest() -> None:
    stream = result()
    del stream["queued"], stream["runs_by_relay"]
    assert run_problems(stream) == []

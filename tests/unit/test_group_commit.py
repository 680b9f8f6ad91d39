"""Group commit: each caller returns once its own item is written; one writer at a time
writes everything that waits."""

from __future__ import annotations

import threading

import pytest

from dispatcher.group_commit import GroupCommit


class Writes:
    """A write that records its batches; the first one waits until released."""

    def __init__(self, hold_first: bool = False) -> None:
        self.batches: list[list[int]] = []
        self.started = threading.Event()
        self.release = threading.Event()
        if not hold_first:
            self.release.set()
        self.fail = False

    def __call__(self, items):
        self.batches.append(list(items))
        self.started.set()
        self.release.wait(10)
        if self.fail:
            raise RuntimeError("database gone")


def test_a_lone_caller_writes_its_own_item_at_once():
    writes = Writes()
    GroupCommit(writes).record(1)
    assert writes.batches == [[1]]


def test_callers_arriving_during_a_write_are_written_together_afterwards():
    writes = Writes(hold_first=True)
    group = GroupCommit(writes)
    first = threading.Thread(target=group.record, args=(0,))
    first.start()
    assert writes.started.wait(10)
    others = [threading.Thread(target=group.record, args=(n,)) for n in range(1, 6)]
    for thread in others:
        thread.start()
    # Each waits: its item is not written yet, so it may not return.
    assert all(thread.is_alive() for thread in others)
    writes.release.set()
    for thread in [first, *others]:
        thread.join(10)
        assert not thread.is_alive()
    assert writes.batches[0] == [0]
    assert sorted(item for batch in writes.batches[1:] for item in batch) == [1, 2, 3, 4, 5]
    assert len(writes.batches) <= 3  # the five waited together, not one write each


def test_a_failed_write_fails_every_caller_in_its_batch_and_the_next_write_is_fresh():
    writes = Writes()
    writes.fail = True
    group = GroupCommit(writes)
    with pytest.raises(RuntimeError, match="database gone"):
        group.record(1)
    writes.fail = False
    group.record(2)
    assert writes.batches == [[1], [2]]

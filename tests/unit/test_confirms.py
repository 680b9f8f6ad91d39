"""The publisher-confirm bookkeeping, without a broker: every way RabbitMQ may settle a few
publishes (acks and nacks, one tag or all up to it, some returned first) against a plain
model of what each publish's outcome must be."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from shared.broker.confirms import ConfirmTracker, Outcome, Settlement, settled_tags

Frame = tuple[int, bool, bool]  # (delivery_tag, multiple, acked)


def compositions(count: int) -> Iterator[list[int]]:
    """Every way to cut tags 1..count into runs of consecutive tags, as the runs' sizes."""
    for cuts in itertools.product((False, True), repeat=count - 1):
        sizes, size = [], 1
        for cut in cuts:
            if cut:
                sizes.append(size)
                size = 1
            else:
                size += 1
        yield [*sizes, size]


def broker_frames(count: int) -> Iterator[list[Frame]]:
    """Every sequence of basic.ack/basic.nack frames that settles tags 1..count once each:
    runs of consecutive tags, each settled by one frame (multiple when the run is longer
    than one tag, either way when it is one), each an ack or a nack, in tag order."""
    for sizes in compositions(count):
        choices = []
        last = 0
        for size in sizes:
            last += size
            multiples = (True,) if size > 1 else (False, True)
            choices.append(
                [(last, multiple, acked) for multiple in multiples for acked in (True, False)]
            )
        yield from (list(frames) for frames in itertools.product(*choices))


def expected_outcome(tag: int, frames: list[Frame], returned: set[int]) -> Outcome:
    """The model: returned is unroutable whatever follows; else the ack or nack that covers it."""
    if tag in returned:
        return Outcome.UNROUTABLE
    covering = next(frame for frame in frames if frame[0] >= tag)
    return Outcome.CONFIRMED if covering[2] else Outcome.NACKED


def scenarios() -> Iterator[tuple[int, list[Frame], set[int]]]:
    """Up to four publishes: every way the broker may settle them, with every subset returned."""
    for count in range(1, 5):
        for frames in broker_frames(count):
            for size in range(count + 1):
                for returned in itertools.combinations(range(1, count + 1), size):
                    yield count, frames, set(returned)


def test_the_frames_enumerated_include_every_way_to_settle_two_publishes():
    assert sorted(broker_frames(2)) == sorted(
        [[(2, True, acked)] for acked in (True, False)]
        + [
            [(1, first_multiple, first_acked), (2, second_multiple, second_acked)]
            for first_multiple, first_acked, second_multiple, second_acked in itertools.product(
                (False, True), repeat=4
            )
        ]
    )


def check(count: int, frames: list[Frame], returned: set[int]) -> None:
    tracker: ConfirmTracker[str] = ConfirmTracker()
    batches = {tag: "odd" if tag % 2 else "even" for tag in range(1, count + 1)}
    assert [tracker.sent(f"message-{tag}", batches[tag]) for tag in batches] == list(batches)
    for tag in sorted(returned):
        tracker.returned(f"message-{tag}")

    settled: list[Settlement[str]] = []
    for delivery_tag, multiple, acked in frames:
        settled += tracker.settle(delivery_tag, multiple, acked)
        # A multiple ack settles nothing beyond its tag.
        assert len(tracker) == count - delivery_tag

    assert settled == [
        Settlement(f"message-{tag}", batches[tag], expected_outcome(tag, frames, returned))
        for tag in range(1, count + 1)
    ]
    for frame in frames:  # a frame seen again, or a tag long settled, settles nothing
        assert tracker.settle(*frame) == []


def test_every_publish_settles_once_with_the_outcome_the_broker_gave():
    checked = 0
    for count, frames, returned in scenarios():
        try:
            check(count, frames, returned)
        except AssertionError as failure:
            raise AssertionError(f"{count} sent, frames {frames}, returned {returned}") from failure
        checked += 1
    assert checked == 6720


def model_settle(outstanding: set[int], frame: Frame) -> list[int]:
    """The tags one frame settles, by the AMQP rule read plainly: its own tag, or with
    `multiple` every tag still outstanding up to and including it."""
    tag, multiple, _acked = frame
    covered = {other for other in outstanding if other <= tag} if multiple else {tag}
    return sorted(covered & outstanding)


def test_frames_in_any_order_settle_what_the_plain_rule_says():
    """RabbitMQ may confirm out of tag order (a message to no queue is acked at once, one
    ahead of it in a quorum queue later), repeat nothing, or settle a tag already covered
    by a multiple ack: every sequence of up to three frames over three publishes."""
    frames = [
        (tag, multiple, acked)
        for tag in (1, 2, 3)
        for multiple in (False, True)
        for acked in (True, False)
    ]
    checked = 0
    for length in range(1, 4):
        for sequence in itertools.product(frames, repeat=length):
            for returned in ({1, 3}, set()):
                tracker: ConfirmTracker[int] = ConfirmTracker()
                for tag in (1, 2, 3):
                    tracker.sent(f"message-{tag}", tag)
                for tag in returned:
                    tracker.returned(f"message-{tag}")
                outstanding = {1, 2, 3}
                for frame in sequence:
                    expected = model_settle(outstanding, frame)
                    outstanding -= set(expected)
                    outcome = Outcome.CONFIRMED if frame[2] else Outcome.NACKED
                    assert tracker.settle(*frame) == [
                        Settlement(
                            f"message-{tag}",
                            tag,
                            Outcome.UNROUTABLE if tag in returned else outcome,
                        )
                        for tag in expected
                    ], (sequence, returned)
                    assert len(tracker) == len(outstanding)
                checked += 1
    assert checked == 2 * (12 + 12**2 + 12**3)


def test_a_return_is_forgotten_once_its_confirm_came():
    tracker: ConfirmTracker[str] = ConfirmTracker()
    tracker.sent("retry", "first")
    tracker.returned("retry")
    assert tracker.settle(1, False, True) == [Settlement("retry", "first", Outcome.UNROUTABLE)]

    tracker.sent("retry", "second")  # the same key published again, routed this time

    assert tracker.settle(2, False, True) == [Settlement("retry", "second", Outcome.CONFIRMED)]


def test_a_closed_channel_abandons_what_was_in_flight_and_nothing_after():
    tracker: ConfirmTracker[str] = ConfirmTracker()
    for tag in range(1, 4):
        tracker.sent(f"message-{tag}", "batch")
    tracker.returned("message-3")
    tracker.settle(1, False, True)

    assert tracker.abandon() == [("message-2", "batch"), ("message-3", "batch")]
    assert len(tracker) == 0
    assert tracker.abandon() == []
    assert tracker.settle(3, True, True) == []


def test_tags_go_on_counting_across_batches():
    tracker: ConfirmTracker[int] = ConfirmTracker()
    first = [tracker.sent(f"a{index}", 1) for index in range(3)]
    tracker.settle(3, True, True)

    assert [tracker.sent(f"b{index}", 2) for index in range(2)] == [4, 5]
    assert first == [1, 2, 3]


@pytest.mark.parametrize(
    ("outstanding", "tag", "multiple", "settled"),
    [
        ([1, 2, 3, 4], 3, True, [1, 2, 3]),
        ([1, 2, 3, 4], 3, False, [3]),
        ([5, 7], 6, True, [5]),
        ([5, 7], 4, True, []),
        ([], 9, True, []),
    ],
)
def test_a_confirm_settles_its_tag_or_every_tag_up_to_it(outstanding, tag, multiple, settled):
    assert settled_tags(outstanding, tag, multiple) == settled

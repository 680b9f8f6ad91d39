"""A broker that drops the consumers: the work queue (or the whole topology) is deleted, or
re-created with other arguments, under a running relay and worker. Reports requested after
that complete, with the same processes: nobody restarts anything.

The cases share one stack of their own (database, exchanges, queues, processes), since they
delete its queues; each begins by building a report, so a stack left broken fails there.
"""

from __future__ import annotations

import contextlib
from collections import Counter

import pika
import pytest

from tests.e2e.faultstack import FaultStack, eventually, fault_stack

pytestmark = pytest.mark.e2e

REPORTS = 10
WAIT = 120.0  # seconds; generous, the machine is shared
CLASSIC = {"x-queue-type": "classic"}


@pytest.fixture(scope="module")
def own_stack(settings, postgres_url, tmp_path_factory):
    # The stuck-report check would re-enqueue lost reports after a while; kept out of
    # reach, so what completes is what the broker's new queue delivered.
    log_dir = tmp_path_factory.mktemp("broker-drops")
    with fault_stack(settings, postgres_url, log_dir, stuck_after_seconds=3600) as stack:
        stack.start_api()
        stack.start_relay()
        stack.start_worker()
        pids = {process.name: process.pid for process in stack.processes}
        yield stack, pids
        # Each still leaves on SIGTERM by itself after what the broker did to it.
        assert stack.stop_all() == dict.fromkeys(pids, 0)


def delete_work_queue(stack: FaultStack) -> None:
    with stack.channel() as channel:
        channel.queue_delete(stack.direct.work_queue)


def delete_topology(stack: FaultStack) -> None:
    stack.delete_topology()  # queues and exchanges


def recreate_work_queue_as_classic(stack: FaultStack) -> None:
    """Delete the work queue and declare it classic, as an operator brings new arguments.
    The worker may declare its quorum queue in between; then delete it again."""

    def recreated() -> bool:
        """the work queue was re-created as a classic queue"""
        with contextlib.suppress(pika.exceptions.ChannelClosedByBroker), stack.channel() as channel:
            channel.queue_delete(stack.direct.work_queue)
            channel.queue_declare(stack.direct.work_queue, durable=True, arguments=CLASSIC)
            return True
        return False

    eventually(recreated, timeout=30)


def is_classic(stack: FaultStack) -> bool:
    """Declaring a queue succeeds only with the arguments it already has."""
    try:
        with stack.channel() as channel:
            channel.queue_declare(stack.direct.work_queue, durable=True, arguments=CLASSIC)
            return True
    except pika.exceptions.ChannelClosedByBroker:
        return False


def worker_drops(stack: FaultStack) -> int:
    """How often the worker saw the broker drop its consumer: by basic.cancel, or (RabbitMQ
    3.10 sometimes sends none for a quorum queue deleted and at once re-declared) by finding
    messages waiting that never reach it."""
    log = stack.log_text("worker")
    return log.count("broker.consumer_cancelled") + log.count("broker.consumer_stalled")


def complete(stack: FaultStack, count: int) -> list[str]:
    answers = stack.submit(count)
    assert Counter(answer.status for answer in answers) == {202: count}
    ids = [answer.body["reportId"] for answer in answers]
    statuses = stack.wait_terminal(ids, timeout=WAIT)
    assert statuses == {"Completed": count}, statuses
    return ids


@pytest.mark.parametrize(
    "drop",
    [delete_work_queue, delete_topology, recreate_work_queue_as_classic],
    ids=["work-queue-deleted", "topology-deleted", "work-queue-recreated-classic"],
)
def test_reports_requested_after_the_broker_dropped_the_consumers_complete_with_no_restart(
    own_stack, drop
):
    stack, pids = own_stack
    complete(stack, 1)  # relay and worker are connected and serving
    eventually(lambda: stack.consumers() == 1, timeout=30)
    drops = worker_drops(stack)

    drop(stack)
    ids = complete(stack, REPORTS)

    assert stack.check(ids).ok
    # The processes started with the stack, every one still running: none was restarted.
    assert {process.name: process.pid for process in stack.processes} == pids
    assert all(process.alive() for process in stack.processes)
    assert worker_drops(stack) > drops
    if drop is recreate_work_queue_as_classic:
        assert is_classic(stack)  # used as it is, not replaced
        assert "broker.queue_arguments_differ" in stack.log_text("worker")

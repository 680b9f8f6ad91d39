"""The dead-letter tool against the real broker: it lists what died and why, replays through the
outbox what can still be built, and never replays a report that is already terminal."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest
from sqlalchemy import text

from infra.local.processes import ROOT
from tests.e2e.faultstack import FaultStack, eventually
from tests.processes import process_env

pytestmark = pytest.mark.e2e


def dead_letters(stack: FaultStack, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "relay.dead_letters", *args],
        cwd=ROOT,
        env=process_env(stack.direct),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def reject_everything_queued(stack: FaultStack) -> int:
    """What a consumer that gives up on every message does: straight to the dead letters."""
    rejected = 0
    with stack.channel() as channel:
        while True:
            method, _, _ = channel.basic_get(stack.direct.work_queue)
            if method is None:
                return rejected
            channel.basic_reject(method.delivery_tag, requeue=False)
            rejected += 1


def test_dead_letters_are_listed_and_only_the_unfinished_one_is_replayed_to_completed(
    make_stack,
):
    stack = make_stack()
    stack.start_api()
    stack.start_relay()
    unfinished = stack.request().body["reportId"]
    finished = stack.request(parameters={"fromDate": "2026-01-04", "toDate": "2026-01-05"}).body[
        "reportId"
    ]
    eventually(lambda: stack.queue_depth(stack.direct.work_queue) == 2, timeout=30)
    stack.publish(b"not a message", message_id=str(uuid.uuid4()))  # the topology is there now
    eventually(lambda: stack.queue_depth(stack.direct.work_queue) == 3, timeout=30)
    assert reject_everything_queued(stack) == 3
    eventually(lambda: stack.queue_depth(stack.direct.dead_letter_queue) == 3, timeout=30)
    with stack.sessions.begin() as session:  # as if a worker had given up on it
        session.execute(
            text("UPDATE reports SET status = 'Failed', error_code = 'gave_up' WHERE id = :id"),
            {"id": uuid.UUID(finished)},
        )

    listed = dead_letters(stack, "list", "--json")

    assert listed.returncode == 0, listed.stderr
    entries = {entry["reportId"]: entry for entry in map(json.loads, listed.stdout.splitlines())}
    assert set(entries) == {unfinished, finished, None}
    assert {entry["reason"] for entry in entries.values()} == {"rejected"}
    assert (entries[unfinished]["reportStatus"], entries[unfinished]["replayable"]) == (
        "Pending",
        True,
    )
    assert (entries[finished]["reportStatus"], entries[finished]["replayable"]) == ("Failed", False)
    assert entries[None]["replayable"] is False
    shown = dead_letters(stack, "show", unfinished)
    assert shown.returncode == 0 and unfinished in json.loads(shown.stdout)["body"]

    replayed = dead_letters(stack, "replay", "--all")

    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stdout.count("replayed ") == 1 and unfinished in replayed.stdout
    assert "already Failed" in replayed.stderr and "names no report" in replayed.stderr
    eventually(lambda: stack.queue_depth(stack.direct.dead_letter_queue) == 2, timeout=30)
    stack.start_worker()
    stack.wait_terminal([unfinished], timeout=60)
    assert stack.report(unfinished).status == "Completed"
    assert stack.report(finished).status == "Failed"
    assert dead_letters(stack, "replay", finished).returncode == 0  # matched, and skipped
    assert stack.queue_depth(stack.direct.dead_letter_queue) == 2

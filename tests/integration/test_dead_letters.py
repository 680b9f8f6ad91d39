"""The dead-letter queue against the real broker: bounded in length and age, and every letter
reached by list, replay and drop-terminal however many pages the queue holds."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pika
import pytest
from sqlalchemy import text

from relay import dead_letters
from shared.config import Settings
from shared.messages import ReportRequested
from tests.conftest import delete_broker_topology
from tests.integration.broker_helpers import declare, queue_depth
from tests.integration.helpers import eventually

PAGE = 3  # letters a page: every test here holds more than one page of them


@pytest.fixture
def make_queues(settings: Settings, sessions) -> Iterator:
    """Settings with a topology of this test's own (declared with `overrides`), deleted after."""
    made: list[Settings] = []

    def make(**overrides: object) -> Settings:
        suffix = uuid.uuid4().hex[:8]
        isolated = settings.with_overrides(
            exchange=f"{settings.exchange}.{suffix}",
            work_queue=f"{settings.work_queue}.{suffix}",
            **overrides,
        )
        declare(isolated)
        made.append(isolated)
        return isolated

    yield make
    for isolated in made:
        delete_broker_topology(isolated)


@pytest.fixture
def queues(make_queues) -> Settings:
    return make_queues()


def dead_letter(settings: Settings, bodies: list[bytes]) -> None:
    """Publish each to the work queue and reject it: dead letters as the broker makes them."""
    connection = pika.BlockingConnection(pika.URLParameters(settings.rabbitmq_url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        for body in bodies:
            properties = pika.BasicProperties(message_id=str(uuid.uuid4()), delivery_mode=2)
            channel.basic_publish(
                settings.exchange, "report.requested", body, properties, mandatory=True
            )
            method, _, _ = channel.basic_get(settings.work_queue)
            channel.basic_reject(method.delivery_tag, requeue=False)
    finally:
        connection.close()
    # Dead-lettering is asynchronous; a bounded queue holds at most its length.
    wanted = min(len(bodies), settings.dead_letter_max_letters)
    assert eventually(lambda: queue_depth(settings, settings.dead_letter_queue) >= wanted)


def requests_for(report_ids: list[uuid.UUID]) -> list[bytes]:
    return [ReportRequested.new(report_id).encode() for report_id in report_ids]


def finish(sessions, report_ids: list[uuid.UUID], status: str = "Failed") -> None:
    with sessions.begin() as session:
        session.execute(
            text("UPDATE reports SET status = :status, completed_at = now() WHERE id = ANY(:ids)"),
            {"status": status, "ids": report_ids},
        )


def run(monkeypatch, capsys, settings: Settings, *argv: str) -> tuple[int, str, str]:
    for variable, value in settings.to_env().items():
        monkeypatch.setenv(variable, value)
    code = dead_letters.main(list(argv), page_size=PAGE)
    out, err = capsys.readouterr()
    return code, out, err


def listed(monkeypatch, capsys, settings: Settings) -> list[dict]:
    code, out, _ = run(monkeypatch, capsys, settings, "list", "--json")
    assert code == 0
    return [json.loads(line) for line in out.splitlines()]


def messages_sent(sessions, report_ids: list[uuid.UUID]) -> list[int]:
    """Outbox rows per report: one from its admission, one more for each replay."""
    with sessions() as session:
        return [
            session.execute(
                text("SELECT count(*) FROM outbox WHERE report_id = :id"), {"id": report_id}
            ).scalar()
            for report_id in report_ids
        ]


def test_list_reaches_every_letter_past_the_first_page_and_leaves_each_in_the_queue(
    queues, monkeypatch, capsys
):
    bodies = [*requests_for([uuid.uuid4() for _ in range(3 * PAGE + 1)]), b"not a message"]
    dead_letter(queues, bodies)

    first = listed(monkeypatch, capsys, queues)
    second = listed(monkeypatch, capsys, queues)

    assert len(first) == len(bodies)
    assert len({entry["messageId"] for entry in first}) == len(bodies)
    # A letter moved behind the others keeps why and where it died.
    assert {(entry["reason"], entry["queue"], entry["deaths"]) for entry in first} == {
        ("rejected", queues.work_queue, 1)
    }
    assert all(entry["diedAt"] for entry in first)
    assert {entry["messageId"] for entry in second} == {entry["messageId"] for entry in first}
    assert queue_depth(queues, queues.dead_letter_queue) == len(bodies)


def test_replay_all_reaches_every_replayable_letter_past_the_first_page(
    queues, sessions, make_report, monkeypatch, capsys
):
    active = [make_report().id for _ in range(2 * PAGE + 1)]
    terminal = [make_report().id for _ in range(PAGE)]
    finish(sessions, terminal)
    # The terminal ones first: the replayable ones are all past the first page.
    dead_letter(queues, requests_for(terminal + active))

    code, out, err = run(monkeypatch, capsys, queues, "replay", "--all")

    assert code == 0
    assert out.count("replayed ") == len(active)
    assert err.count("already Failed") == len(terminal)
    assert messages_sent(sessions, active) == [2] * len(active)
    assert messages_sent(sessions, terminal) == [1] * len(terminal)
    assert queue_depth(queues, queues.dead_letter_queue) == len(terminal)


def test_drop_terminal_removes_only_the_letters_of_finished_reports_on_every_page(
    queues, sessions, make_report, monkeypatch, capsys
):
    active = [make_report().id for _ in range(PAGE)]
    terminal = [make_report().id for _ in range(2 * PAGE)]
    finish(sessions, terminal[:PAGE], "Cancelled")
    finish(sessions, terminal[PAGE:], "Completed")
    bodies = [*requests_for(active + terminal), b"not a message"]
    dead_letter(queues, bodies)

    code, out, _ = run(monkeypatch, capsys, queues, "drop-terminal")
    again, _, _ = run(monkeypatch, capsys, queues, "drop-terminal")

    assert code == 0 and out.count("dropped ") == len(terminal)
    assert again == 1  # nothing left to drop
    left = {entry["reportId"] for entry in listed(monkeypatch, capsys, queues)}
    assert left == {str(report_id) for report_id in active} | {None}


def peek(settings: Settings) -> list[bytes]:
    """The bodies in the dead-letter queue now; each goes back when the connection closes."""
    connection = pika.BlockingConnection(pika.URLParameters(settings.rabbitmq_url))
    try:
        channel = connection.channel()
        bodies = []
        while (got := channel.basic_get(settings.dead_letter_queue))[0] is not None:
            bodies.append(got[2])
        return bodies
    finally:
        connection.close()


def test_the_queue_drops_its_oldest_letters_past_its_length(make_queues):
    bounded = make_queues(dead_letter_max_letters=PAGE)
    bodies = [f"letter {n}".encode() for n in range(PAGE + 2)]

    dead_letter(bounded, bodies)

    # The newest failures are kept: the ones an operator looks at next.
    assert eventually(lambda: set(peek(bounded)) == set(bodies[-PAGE:]))


def test_the_queue_drops_letters_older_than_its_age_limit(make_queues):
    short_lived = make_queues(dead_letter_max_age_hours=2 / 3600)  # two seconds

    dead_letter(short_lived, [b"old news"])

    # An expired letter is removed when it reaches the head: a get then finds none.
    assert eventually(lambda: peek(short_lived) == [])

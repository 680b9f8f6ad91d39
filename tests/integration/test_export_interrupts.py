"""Exports end, whatever happens while they run: an unexpected error, attempts used up, a cancel,
a lost lease, a hand-back or the deadline, the last four even while the query is still running."""

from __future__ import annotations

import hashlib
import threading
import time

import pytest
from sqlalchemy import text

from api.reports import service
from shared.models import Report
from shared.storage import Storage, report_object_key
from tests.integration.helpers import eventually, in_thread, owner_of, reload
from tests.services import objects_of
from worker.exporter import Outcome
from worker.formats.csv import CsvFormat

pytestmark = pytest.mark.usefixtures("throwaway_types")

FOREVER = {"seconds": 3600}  # far longer than any test: only an interrupt ends it


def query_is_sleeping(engine, report: Report) -> bool:
    """The report's query runs on the server now (pg_sleep is active)."""
    with engine.connect() as connection:
        return bool(
            connection.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE state = 'active' AND query LIKE '%%pg_sleep%%' "
                    "AND query LIKE :org AND pid <> pg_backend_pid()"
                ),
                {"org": f"%{report.org}%"},
            ).scalar_one()
        )


def start_sleeping(
    make_report, make_exporter, engine, sessions, org: str, report_format="csv", **options
):
    report = make_report("sleepy", FOREVER, org=org, report_format=report_format)
    exporter = make_exporter(**options)
    outcome: list[Outcome] = []
    thread = in_thread(lambda: outcome.append(exporter.process(report.id)))
    assert eventually(lambda: query_is_sleeping(engine, report), timeout=30)
    assert reload(sessions, report.id).status == "Processing"
    return report, exporter, thread, outcome


def finished(thread: threading.Thread) -> bool:
    thread.join(timeout=30)  # the query would sleep for an hour
    return not thread.is_alive()


def unique_org(name: str) -> str:
    return f"{name}-{time.monotonic_ns()}"


def test_an_unexpected_error_fails_the_report_as_internal_instead_of_looping(
    make_report, make_exporter, sessions
):
    report = make_report("broken", {})

    assert make_exporter().process(report.id) is Outcome.FAILED

    failed = reload(sessions, report.id)
    assert (failed.status, failed.error_code, failed.attempts) == ("Failed", "internal", 1)
    assert failed.error_message == "The export stopped on an unexpected error (OverflowError)."


@pytest.mark.parametrize("status", ["Pending", "Processing"])
def test_a_report_that_used_all_its_attempts_is_failed_instead_of_claimed(
    make_report, make_exporter, sessions, status
):
    report = make_report()
    with sessions.begin() as session:  # every attempt so far died mid-export
        session.execute(
            text(
                "UPDATE reports SET status = :status, attempts = 3, "
                "lease_expires_at = now() - interval '1 second' WHERE id = :id"
            ),
            {"status": status, "id": report.id},
        )

    assert make_exporter(max_attempts=3).process(report.id) is Outcome.GAVE_UP

    failed = reload(sessions, report.id)
    assert (failed.status, failed.error_code, failed.attempts) == ("Failed", "gave_up", 3)
    assert failed.error_message == "Gave up after 3 attempts: none of them could finish."


# csv.gz reads its COPY through a compressor: the cancel must reach the query there too.
@pytest.mark.parametrize("report_format", ["csv", "csv.gz"])
def test_a_cancel_interrupts_the_running_query(
    make_report, make_exporter, engine, sessions, report_format
):
    report, _, thread, outcome = start_sleeping(
        make_report, make_exporter, engine, sessions, unique_org("cancel"), report_format
    )

    service.cancel_report(sessions, owner_of(report), report.id)

    assert finished(thread)
    assert outcome == [Outcome.CANCELLED]
    assert reload(sessions, report.id).status == "Cancelled"
    assert not query_is_sleeping(engine, report)


def test_a_lost_lease_interrupts_the_running_query(make_report, make_exporter, engine, sessions):
    report, _, thread, outcome = start_sleeping(
        make_report, make_exporter, engine, sessions, unique_org("lost")
    )
    with sessions.begin() as session:  # another worker took it over
        session.execute(
            text("UPDATE reports SET attempts = attempts + 1 WHERE id = :id"), {"id": report.id}
        )

    assert finished(thread)
    assert outcome == [Outcome.CLAIM_LOST]
    assert not query_is_sleeping(engine, report)


def test_a_hand_back_interrupts_the_running_query(make_report, make_exporter, engine, sessions):
    report, exporter, thread, outcome = start_sleeping(
        make_report, make_exporter, engine, sessions, unique_org("handback")
    )

    exporter.hand_back()

    assert finished(thread)
    assert outcome == [Outcome.HANDED_BACK]
    handed_back = reload(sessions, report.id)
    assert (handed_back.status, handed_back.lease_expires_at) == ("Pending", None)


def test_the_deadline_interrupts_the_running_query(make_report, make_exporter, sessions):
    report = make_report("sleepy", FOREVER, org=unique_org("deadline"))

    assert make_exporter(max_export_seconds=1).process(report.id) is Outcome.FAILED

    failed = reload(sessions, report.id)
    assert (failed.status, failed.error_code) == ("Failed", "timeout")


class HeldBackCsv(CsvFormat):
    """CSV that waits for a signal before it starts, then adds a line the first file lacks:
    an attempt cut off from the database while the source data moved on."""

    def __init__(self, release: threading.Event) -> None:
        super().__init__()
        self._release = release

    def stream(self, cursor, query, counter):
        assert self._release.wait(30)
        yield from super().stream(cursor, query, counter)
        yield b"late,row,from,a,stale,attempt\n"


def test_a_stale_attempt_can_never_replace_the_file_another_attempt_completed(
    make_report, make_exporter, sessions, settings, read_object
):
    report = make_report()
    release = threading.Event()
    # A lease keeper that never runs during the test: the stale attempt cannot notice.
    stale = make_exporter(formats={"csv": HeldBackCsv(release)}, progress_interval=1000)
    outcome: list[Outcome] = []
    thread = in_thread(lambda: outcome.append(stale.process(report.id)))
    assert eventually(lambda: reload(sessions, report.id).attempts == 1)
    with sessions.begin() as session:  # its lease ran out while it was cut off
        session.execute(
            text("UPDATE reports SET lease_expires_at = now() - interval '1 s' WHERE id = :id"),
            {"id": report.id},
        )
    assert make_exporter().process(report.id) is Outcome.COMPLETED

    release.set()  # the stale attempt finishes its upload after the takeover completed

    assert finished(thread)
    assert outcome == [Outcome.CLAIM_LOST]
    done = reload(sessions, report.id)
    assert (done.status, done.attempts) == ("Completed", 2)
    assert done.object_key == report_object_key(report.org, report.id, 2, "csv")
    body = read_object(done.object_key)
    assert (len(body), hashlib.sha256(body).hexdigest()) == (done.size_bytes, done.sha256)
    assert b"stale" not in body
    assert objects_of(Storage(settings), report.id) == [done.object_key]

"""The orphan sweep and the store's expiry rule against real PostgreSQL and S3: each path that
leaves an attempt's object behind ends with the object deleted, and nothing a report still
serves, or may still be writing, is touched."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import text

from relay.sweeper import ORPHAN_PAGES_PER_PASS, Sweeper, lifecycle_days
from shared.models import Report
from shared.storage import KEY_PREFIX, LIFECYCLE_RULE_ID, Storage, report_object_key
from tests.integration.helpers import put_object
from tests.services import s3_client
from worker.exporter import Outcome


def set_report(sessions, report_id: uuid.UUID, assignments: str, **values: object) -> None:
    with sessions.begin() as session:
        session.execute(
            text(f"UPDATE reports SET {assignments} WHERE id = :id"), {"id": report_id, **values}
        )


def attempt_key(report: Report, attempt: int) -> str:
    return report_object_key(report.org, report.id, attempt, "csv")


@pytest.fixture
def storage(settings) -> Storage:
    return Storage(settings)


@pytest.fixture
def sweep(settings, sessions, storage):
    """One sweep as if the longest export were over: every object is old enough to judge."""

    def run(**overrides: object):
        return Sweeper(
            settings.with_overrides(max_export_seconds=0), sessions, storage, **overrides
        ).run_once()

    return run


def test_a_stale_attempt_s_object_goes_and_the_completed_attempt_s_file_stays(
    sessions, make_report, storage, sweep
):
    """A stale attempt uploaded, then its completion raised: attempt 2 completed the report."""
    report = make_report()
    stale, served = put_object(storage, attempt_key(report, 1)), attempt_key(report, 2)
    put_object(storage, served)
    set_report(
        sessions,
        report.id,
        "status = 'Completed', attempts = 2, object_key = :key, completed_at = now(), "
        "expires_at = now() + interval '1 day'",
        key=served,
    )

    result = sweep()

    assert storage.head(stale) is None
    assert storage.head(served) is not None
    assert result.orphans_deleted >= 1
    assert "orphans" not in result.failed_steps


def test_an_object_whose_own_delete_failed_after_a_cancel_won_goes(
    sessions, make_report, storage, sweep
):
    """The cancel won the race against COMPLETE, and the attempt's delete of its file failed."""
    report = make_report()
    left = put_object(storage, attempt_key(report, 1))
    set_report(
        sessions,
        report.id,
        "status = 'Cancelled', cancel_requested = true, attempts = 1, completed_at = now()",
    )

    sweep()

    assert storage.head(left) is None


def test_an_object_left_by_a_crash_after_the_upload_goes_once_the_report_gave_up(
    settings, sessions, make_report, make_exporter, storage, sweep
):
    report = make_report()
    # The last attempt uploaded, then its worker died before COMPLETE: the lease ran out.
    left = put_object(storage, attempt_key(report, settings.max_attempts))
    set_report(
        sessions,
        report.id,
        "status = 'Processing', attempts = :attempts, lease_expires_at = now() - interval '1 min'",
        attempts=settings.max_attempts,
    )

    assert make_exporter().process(report.id) is Outcome.GAVE_UP
    assert storage.head(left) is not None  # what the worker leaves behind

    sweep()

    assert storage.head(left) is None


def test_earlier_attempts_objects_go_when_the_claim_found_a_cancel_before_deleting_them(
    sessions, make_report, make_exporter, storage, sweep
):
    report = make_report()
    # Attempt 1 uploaded and died; a cancel came; attempt 2's claim takes over and stops.
    left = put_object(storage, attempt_key(report, 1))
    set_report(
        sessions,
        report.id,
        "status = 'Processing', attempts = 1, cancel_requested = true, "
        "lease_expires_at = now() - interval '1 min'",
    )

    assert make_exporter().process(report.id) is Outcome.CANCELLED
    assert storage.head(left) is not None  # what the worker leaves behind

    sweep()

    assert storage.head(left) is None


def test_the_objects_of_a_report_that_no_longer_exists_go(storage, sweep):
    left = put_object(storage, report_object_key("acme", uuid.uuid4(), 1, "csv"))

    sweep()

    assert storage.head(left) is None


def test_what_an_active_report_or_a_running_export_may_still_need_stays(
    settings, sessions, make_report, storage, sweep
):
    active = make_report()
    # Attempt 2 holds the report: attempt 1's object is the next claim's to delete.
    earlier = put_object(storage, attempt_key(active, 1))
    set_report(
        sessions,
        active.id,
        "status = 'Processing', attempts = 2, lease_expires_at = now() + interval '1 min'",
    )
    # Not an attempt's key: not Reportbox's to judge.
    loose = put_object(storage, f"{KEY_PREFIX}acme/loose.csv")
    sweep()
    # Young: the longest export (the real maximum, an hour) has not passed since its upload.
    young = put_object(storage, report_object_key("acme", uuid.uuid4(), 1, "csv"))
    Sweeper(settings, sessions, storage).run_once()

    assert [storage.head(key) is not None for key in (earlier, loose, young)] == [True] * 3
    storage.delete(loose)


def test_the_sweep_pages_through_the_listing_a_bounded_amount_a_pass_and_reaches_every_orphan(
    settings, sessions, storage
):
    orphans = [
        put_object(storage, report_object_key("acme", uuid.uuid4(), 1, "csv"))
        for _ in range(ORPHAN_PAGES_PER_PASS + 2)
    ]
    sweeper = Sweeper(
        settings.with_overrides(max_export_seconds=0), sessions, storage, orphan_page_keys=1
    )
    # Each pass lists at most ORPHAN_PAGES_PER_PASS keys and goes on where the last stopped.
    most_passes = len(storage.object_keys(KEY_PREFIX)) // ORPHAN_PAGES_PER_PASS + 2

    first = sweeper.run_once()
    passes = 1
    while any(storage.head(key) is not None for key in orphans):
        assert passes < most_passes, "the sweep never reached every orphan"
        sweeper.run_once()
        passes += 1

    assert first.orphans_deleted <= ORPHAN_PAGES_PER_PASS
    assert passes >= 2


def test_the_sweep_sets_the_store_s_expiry_of_reports_and_keeps_other_rules(
    settings, storage, sweep
):
    client = s3_client(settings)
    theirs = {
        "ID": "someone-else-s-backups",
        "Filter": {"Prefix": "backups/"},
        "Status": "Enabled",
        "Expiration": {"Days": 30},
    }
    client.put_bucket_lifecycle_configuration(
        Bucket=settings.s3_bucket, LifecycleConfiguration={"Rules": [theirs]}
    )

    result = sweep()

    rules = {
        rule["ID"]: rule
        for rule in client.get_bucket_lifecycle_configuration(Bucket=settings.s3_bucket)["Rules"]
    }
    assert "lifecycle" not in result.failed_steps
    assert rules[LIFECYCLE_RULE_ID]["Filter"] == {"Prefix": KEY_PREFIX}
    assert rules[LIFECYCLE_RULE_ID]["Expiration"]["Days"] == lifecycle_days(
        settings.report_retention_hours, 0
    )
    assert rules["someone-else-s-backups"]["Filter"] == {"Prefix": "backups/"}


class NoLifecycleStore(BaseHTTPRequestHandler):
    """An S3 endpoint without lifecycle rules: 501 NotImplemented to every request."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _refuse(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = (
            b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>NotImplemented</Code>'
            b"<Message>A header you provided implies functionality that is not implemented"
            b"</Message></Error>"
        )
        self.send_response(501)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _refuse


@pytest.fixture
def store_without_lifecycle(settings) -> Iterator[Storage]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), NoLifecycleStore)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}"
        yield Storage(settings.with_overrides(s3_endpoint_url=endpoint))
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_store_without_lifecycle_rules_is_logged_once_and_the_sweep_goes_on(
    settings, sessions, store_without_lifecycle, caplog
):
    sweeper = Sweeper(settings, sessions, store_without_lifecycle)

    with caplog.at_level(logging.INFO, logger="relay.sweeper"):
        first, second = sweeper.run_once(), sweeper.run_once()

    assert caplog.text.count("sweep.lifecycle_unsupported") == 1
    assert "lifecycle" not in first.failed_steps + second.failed_steps
    assert "stuck" not in first.failed_steps  # the other steps ran

"""The sweep against real PostgreSQL and S3: each step on its own, no row in front of the
others, no storage call inside a transaction, nothing outside Reportbox's key prefix."""

from __future__ import annotations

import time
import uuid
from urllib.parse import urlsplit

import pytest
from sqlalchemy import text

from relay.stuck import StuckReports
from relay.sweeper import Sweeper
from shared.db import make_engine, make_session_factory
from shared.models import Report
from shared.storage import KEY_PREFIX, Storage, report_object_key
from tests.faultproxy import fault_proxy
from tests.integration.helpers import put_object
from tests.services import free_port, s3_client

# A key S3 refuses to delete (400): SeaweedFS and MinIO for its ".." segment, AWS for its
# length, over the 1024-byte limit.
UNDELETABLE_KEY = f"{KEY_PREFIX}acme/../" + "x" * 2000 + ".csv"


def status_of(sessions, report_id: uuid.UUID) -> str:
    with sessions() as session:
        return session.get(Report, report_id).status


def expired_report(sessions, make_report, key: str | None, expired_ago_seconds: int) -> uuid.UUID:
    """A Completed report whose retention ended `expired_ago_seconds` ago, its file at `key`."""
    report_id = make_report().id
    with sessions.begin() as session:
        session.execute(
            text(
                # A whole Completed row (its file described), as other tests read the shared
                # history against the API's document.
                "UPDATE reports SET status = 'Completed', completed_at = now(), "
                "object_key = :key, expires_at = now() - make_interval(secs => :ago), "
                "file_name = 'x.csv', content_type = 'text/csv', size_bytes = 1, "
                "row_count = 1, sha256 = repeat('0', 64) "
                "WHERE id = :id"
            ),
            {"key": key, "ago": expired_ago_seconds, "id": report_id},
        )
    return report_id


def published_long_ago(sessions, report_id: uuid.UUID) -> None:
    with sessions.begin() as session:
        session.execute(
            text(
                "UPDATE outbox SET published_at = now() - interval '2 days' WHERE report_id = :id"
            ),
            {"id": report_id},
        )


def outbox_rows(sessions, report_id: uuid.UUID) -> int:
    with sessions() as session:
        return session.execute(
            text("SELECT count(*) FROM outbox WHERE report_id = :id"), {"id": report_id}
        ).scalar()


@pytest.fixture
def sweep_backlog_cleared(settings, sessions):
    """Expire what earlier tests left expired, so a sweep here sees only this test's reports;
    afterwards, retire this test's undeletable report so no later sweep meets it."""
    Sweeper(settings, sessions, Storage(settings)).run_once()
    yield
    with sessions.begin() as session:
        session.execute(
            text("UPDATE reports SET status = 'Expired' WHERE object_key = :key"),
            {"key": UNDELETABLE_KEY},
        )


def test_a_failing_expire_step_does_not_stop_the_outbox_trim_or_the_stuck_check(
    settings, sessions, make_report, sweep_backlog_cleared
):
    key = report_object_key("acme", uuid.uuid4(), 1, "csv")
    report_id = expired_report(sessions, make_report, key, expired_ago_seconds=60)
    published_long_ago(sessions, report_id)
    # Nothing listens on this port: every S3 call is refused.
    unreachable = Storage(
        settings.with_overrides(s3_endpoint_url=f"http://127.0.0.1:{free_port()}")
    )

    result = Sweeper(settings, sessions, unreachable).run_once()

    assert result.failed_steps == ("expire", "uploads", "orphans", "lifecycle")
    assert status_of(sessions, report_id) == "Completed"  # its file could not be deleted
    assert outbox_rows(sessions, report_id) == 0  # the trim ran all the same
    assert result.outbox_deleted >= 1


@pytest.mark.parametrize("batch_size", [1, 500])
def test_a_report_whose_file_cannot_be_deleted_does_not_block_the_ones_behind_it(
    settings, sessions, make_report, sweep_backlog_cleared, batch_size
):
    storage = Storage(settings)
    # The undeletable one expired first, so it comes first in every batch and every round.
    stuck = expired_report(sessions, make_report, UNDELETABLE_KEY, expired_ago_seconds=3 * 3600)
    keys = [report_object_key("acme", uuid.uuid4(), 1, "csv") for _ in range(3)]
    for key in keys:
        put_object(storage, key)
    behind = [
        expired_report(sessions, make_report, key, expired_ago_seconds=3600 - i)
        for i, key in enumerate(keys)
    ]
    sweeper = Sweeper(settings, sessions, storage, batch_size=batch_size)

    first, second = sweeper.run_once(), sweeper.run_once()

    assert [status_of(sessions, report_id) for report_id in behind] == ["Expired"] * 3
    assert [storage.head(key) for key in keys] == [None] * 3
    assert status_of(sessions, stuck) == "Completed"  # left for the next round, not skipped
    assert (first.expired, first.expire_refused, first.failed_steps) == (3, 1, ())
    assert (second.expired, second.expire_refused, second.failed_steps) == (0, 1, ())


def test_the_sweep_holds_no_transaction_open_while_s3_answers(
    settings, make_report, sessions, sweep_backlog_cleared
):
    # Every S3 answer takes longer than the server lets a transaction sit idle: a storage call
    # inside a transaction would get the transaction ended and the sweep failed.
    short_idle = settings.with_overrides(db_idle_in_transaction_timeout_ms=300)
    engine = make_engine(short_idle)
    endpoint = urlsplit(settings.s3_endpoint_url)
    storage = Storage(settings)
    keys = [report_object_key("acme", uuid.uuid4(), 1, "csv") for _ in range(2)]
    for key in keys:
        put_object(storage, key)
    report_ids = [
        expired_report(sessions, make_report, key, expired_ago_seconds=60) for key in keys
    ]
    try:
        with fault_proxy(endpoint.hostname, endpoint.port) as proxy:
            proxy.latency = 0.5  # per forwarded chunk, each way
            slow = Storage(
                settings.with_overrides(s3_endpoint_url=f"http://127.0.0.1:{proxy.port}")
            )
            result = Sweeper(short_idle, make_session_factory(engine), slow).run_once()
    finally:
        engine.dispose()

    assert result.failed_steps == ()
    assert result.expired == 2
    assert [status_of(sessions, report_id) for report_id in report_ids] == ["Expired"] * 2


def test_the_stuck_check_holds_no_transaction_open_while_the_broker_answers(
    settings, make_report, sessions
):
    short_idle = settings.with_overrides(db_idle_in_transaction_timeout_ms=300)
    engine = make_engine(short_idle)
    report_id = make_report().id
    with sessions.begin() as session:
        session.execute(
            text("UPDATE reports SET created_at = now() - interval '1 hour' WHERE id = :id"),
            {"id": report_id},
        )
    published_long_ago(sessions, report_id)

    def slow_broker() -> int:
        time.sleep(1.0)  # longer than the idle-in-transaction timeout
        return 0

    try:
        reenqueued = StuckReports(short_idle, make_session_factory(engine), slow_broker).run_once()
    finally:
        engine.dispose()

    assert reenqueued >= 1
    assert outbox_rows(sessions, report_id) == 2  # the old message and the new one


def test_the_upload_abort_touches_only_reportbox_s_key_prefix(settings, sessions):
    storage = Storage(settings)
    client = s3_client(settings)
    # As a worker killed mid-upload leaves one behind.
    ours = client.create_multipart_upload(
        Bucket=settings.s3_bucket, Key=report_object_key("acme", uuid.uuid4(), 1, "csv")
    )["UploadId"]
    # Another application's uploads in the same bucket, one under a look-alike prefix.
    theirs = {
        key: client.create_multipart_upload(Bucket=settings.s3_bucket, Key=key)["UploadId"]
        for key in ("backups/db.dump", "reports-archive/2026.tar", "top-level.bin")
    }
    try:
        # Which uploads are old enough is unit-tested; this shows what the sweep may touch.
        result = Sweeper(
            settings.with_overrides(incomplete_upload_max_age_hours=0), sessions, storage
        ).run_once()

        left = {
            upload["UploadId"]
            for upload in client.list_multipart_uploads(Bucket=settings.s3_bucket).get(
                "Uploads", []
            )
        }
        assert ours not in left
        assert set(theirs.values()) <= left
        assert result.uploads_aborted >= 1
    finally:
        for key, upload_id in theirs.items():
            client.abort_multipart_upload(Bucket=settings.s3_bucket, Key=key, UploadId=upload_id)


def test_the_upload_of_the_attempt_that_holds_its_report_is_never_aborted(
    settings, sessions, make_report
):
    """Past the age cutoff (here at once), an export may still be writing (moto dated every
    upload years back, and its cutoff aborted one under `make run`); an earlier, dead attempt's
    upload goes."""
    client = s3_client(settings)
    report = make_report()
    with sessions.begin() as session:  # attempt 2 holds the report; attempt 1 died mid-upload
        session.execute(
            text(
                "UPDATE reports SET status = 'Processing', attempts = 2, "
                "lease_expires_at = now() + interval '1 minute' WHERE id = :id"
            ),
            {"id": report.id},
        )
    uploads = {
        attempt: client.create_multipart_upload(
            Bucket=settings.s3_bucket, Key=report_object_key(report.org, report.id, attempt, "csv")
        )["UploadId"]
        for attempt in (1, 2)
    }

    Sweeper(
        settings.with_overrides(incomplete_upload_max_age_hours=0), sessions, Storage(settings)
    ).run_once()

    left = {u["UploadId"] for u in Storage(settings).incomplete_uploads()}
    assert uploads[2] in left
    assert uploads[1] not in left
    client.abort_multipart_upload(
        Bucket=settings.s3_bucket,
        Key=report_object_key(report.org, report.id, 2, "csv"),
        UploadId=uploads[2],
    )


def ended(sessions, make_report, status: str, days_ago: float, key: str | None = None):
    """A report that became `status` `days_ago` days ago; returns its id."""
    report_id = make_report().id
    with sessions.begin() as session:
        session.execute(
            text(
                "UPDATE reports SET status = :status, idempotency_key = :key, "
                "completed_at = now() - make_interval(secs => :ago), "
                "expires_at = now() + interval '1 day' WHERE id = :id"
            ),
            {"status": status, "key": key, "ago": days_ago * 86400, "id": report_id},
        )
        if status == "Completed":  # a whole row: other tests read the shared history
            session.execute(
                text(
                    "UPDATE reports SET file_name = 'x.csv', content_type = 'text/csv', "
                    "size_bytes = 1, row_count = 1, sha256 = repeat('0', 64) WHERE id = :id"
                ),
                {"id": report_id},
            )
    return report_id


def exists(sessions, report_id: uuid.UUID) -> bool:
    with sessions() as session:
        return session.get(Report, report_id) is not None


def test_rows_of_reports_ended_longer_ago_than_the_row_retention_are_deleted_in_batches(
    settings, sessions, make_report, sweep_backlog_cleared
):
    retention = settings.with_overrides(report_row_retention_days=30)
    old = [
        ended(sessions, make_report, status, 31) for status in ("Failed", "Cancelled", "Expired")
    ]
    old += [ended(sessions, make_report, "Cancelled", 40) for _ in range(22)]
    kept = [
        ended(sessions, make_report, status, 29) for status in ("Failed", "Cancelled", "Expired")
    ]
    # Completed still has its file (the expiry step comes first); Pending has not ended.
    kept.append(ended(sessions, make_report, "Completed", 31))
    kept.append(make_report().id)

    # batch_size 1: deletes of 10 rows a transaction, so 25 rows take three.
    result = Sweeper(retention, sessions, Storage(settings), batch_size=1).run_once()

    assert result.rows_deleted == len(old)
    assert [exists(sessions, report_id) for report_id in old] == [False] * len(old)
    assert [exists(sessions, report_id) for report_id in kept] == [True] * len(kept)


def test_a_deleted_row_takes_its_idempotency_key_with_it(
    settings, sessions, make_report, sweep_backlog_cleared
):
    report_id = ended(sessions, make_report, "Failed", 31, key="old-key")
    with sessions() as session:
        owner = session.get(Report, report_id).owner_id

    Sweeper(settings, sessions, Storage(settings)).run_once()

    with sessions() as session:
        keys = session.execute(
            text("SELECT count(*) FROM reports WHERE owner_id = :owner AND idempotency_key = :key"),
            {"owner": owner, "key": "old-key"},
        ).scalar()
    assert not exists(sessions, report_id)
    assert keys == 0

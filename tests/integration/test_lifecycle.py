"""Progress, cancel, download and retention, with the real worker, database and S3."""

from __future__ import annotations

import random
import threading
import time
import urllib.request
from urllib.parse import urlsplit

import pytest
from sqlalchemy import text

from api.errors import answer_for
from api.reports import service
from relay.sweeper import Sweeper
from shared import demo
from shared.errors import AlreadyFinished, DomainError
from shared.models import OutboxMessage
from shared.statuses import ReportStatus
from shared.storage import Storage
from tests.faultproxy import fault_proxy
from tests.integration.helpers import eventually, in_thread, owner_of, reload
from tests.services import objects_of
from worker.lifecycle import Lifecycle

BIG_ORG = "bigco"
FULL_YEAR = {"fromDate": "2026-01-01", "toDate": "2026-12-31"}


@pytest.fixture(scope="module")
def big_org(settings):
    """An org with 600,000 sessions, so an export lasts long enough to watch.

    About 30 MB of CSV: six parts. The slow S3 below paces the export part by part (a part
    is read while the one before is still on its way), so its progress takes several
    steps between 0 and the end, and a cancel lands long before it is done.
    """
    demo.fill(settings.database_url, [BIG_ORG], 600_000, users=None, albums=50)
    return BIG_ORG


@pytest.fixture
def slow_s3(settings):
    """Settings whose S3 traffic crosses a proxy that delays every 64 KiB chunk."""
    endpoint = urlsplit(settings.s3_endpoint_url)
    with fault_proxy(endpoint.hostname, endpoint.port) as proxy:
        proxy.latency = 0.01
        yield settings.with_overrides(s3_endpoint_url=f"http://127.0.0.1:{proxy.port}")


def retention_ended(sessions, report_ids) -> bool:
    """Whether the database's clock has passed every one of these reports' expires_at."""
    with sessions() as session:
        return session.execute(
            text("SELECT bool_and(expires_at <= now()) FROM reports WHERE id = ANY(:ids)"),
            {"ids": list(report_ids)},
        ).scalar_one()


def test_progress_rises_while_a_large_report_streams(
    big_org, make_exporter, make_report, sessions, slow_s3
):
    report = make_report(org=big_org, parameters=FULL_YEAR)
    samples: list[tuple[int, int | None]] = []
    export = in_thread(make_exporter(slow_s3).process, report.id)

    while export.is_alive():
        row = reload(sessions, report.id)
        if row.status == "Processing":
            samples.append((row.rows_processed, row.rows_total))
        time.sleep(0.05)

    done = reload(sessions, report.id)
    assert done.status == "Completed"
    moving = [processed for processed, _ in samples if 0 < processed < done.row_count]
    assert len(set(moving)) >= 3, samples[-5:]
    assert moving == sorted(moving)
    totals = {total for _, total in samples if total is not None}
    assert totals and all(0.5 * done.row_count < total < 2 * done.row_count for total in totals)


def test_a_status_reads_back_as_a_report_status(make_report, sessions, engine, settings):
    report = make_report()
    service.cancel_report(sessions, owner_of(report), report.id)

    loaded = reload(sessions, report.id).status
    state = Lifecycle(engine, settings.lease_seconds, 3600.0, settings.max_attempts).state(
        report.id
    )

    assert type(loaded) is ReportStatus and loaded is ReportStatus.CANCELLED
    assert state is not None and state.status is ReportStatus.CANCELLED


def test_cancelling_a_pending_report_is_immediate_and_the_worker_skips_it(
    make_report, make_exporter, sessions
):
    report = make_report()

    cancelled = service.cancel_report(sessions, owner_of(report), report.id)
    make_exporter().process(report.id)

    assert cancelled.status == "Cancelled"
    after = reload(sessions, report.id)
    assert (after.status, after.attempts, after.object_key) == ("Cancelled", 0, None)


def test_cancelling_a_processing_report_stops_it_with_no_file_and_no_upload_left(
    big_org, make_report, make_exporter, sessions, settings, slow_s3
):
    report = make_report(org=big_org, parameters=FULL_YEAR)
    export = in_thread(make_exporter(slow_s3).process, report.id)
    assert eventually(lambda: reload(sessions, report.id).rows_processed > 0)

    asked = service.cancel_report(sessions, owner_of(report), report.id)
    requested_at = time.monotonic()
    export.join(timeout=30)

    assert (asked.status, asked.cancel_requested) == ("Processing", True)
    assert time.monotonic() - requested_at < 10
    after = reload(sessions, report.id)
    assert (after.status, after.object_key) == ("Cancelled", None)
    storage = Storage(settings)
    assert objects_of(storage, report.id) == []
    assert not [u for u in storage.incomplete_uploads() if str(report.id) in u["Key"]]


def test_a_finished_report_cannot_be_cancelled(make_report, make_exporter, sessions):
    report = make_report()
    make_exporter().process(report.id)

    with pytest.raises(AlreadyFinished) as refused:
        service.cancel_report(sessions, owner_of(report), report.id)

    assert answer_for(refused.value).status == 409
    assert reload(sessions, report.id).status == "Completed"


def test_cancel_racing_completion_always_ends_in_exactly_one_of_them(
    make_report, make_exporter, sessions, settings
):
    exporter = make_exporter()
    storage = Storage(settings)
    outcomes = {"Completed": 0, "Cancelled": 0}
    rng = random.Random(7)
    for _ in range(100):
        report = make_report(report_type="users", parameters={"plan": "student"})
        answers: list[int] = []

        def cancel(report=report, answers=answers) -> None:
            time.sleep(rng.uniform(0, 0.03))
            try:
                service.cancel_report(sessions, owner_of(report), report.id)
                answers.append(202)
            except DomainError as error:
                answers.append(answer_for(error).status)

        canceller = in_thread(cancel)
        exporter.process(report.id)
        canceller.join()

        final = reload(sessions, report.id)
        has_file = objects_of(storage, report.id) != []
        assert final.status in outcomes, final.status
        if final.status == "Completed":
            assert (answers, has_file, final.object_key is not None) == ([409], True, True)
        else:
            assert (answers, has_file, final.object_key) == ([202], False, None)
        outcomes[final.status] += 1
    assert sum(outcomes.values()) == 100


def test_download_redirects_to_a_fresh_url_then_is_gone_after_the_retention(
    client, make_token, make_exporter, sessions, settings
):
    token = make_token(sub="downloader")
    headers = {"Authorization": f"Bearer {token}"}
    accepted = client.post(
        "/api/v1/reports/sessions",
        headers=headers,
        json={"format": "csv", "parameters": {"fromDate": "2026-01-01", "toDate": "2026-01-03"}},
    )
    report_id = accepted.get_json()["reportId"]
    assert client.get(f"/api/v1/reports/{report_id}/download", headers=headers).status_code == 409
    make_exporter(retention_seconds=2.0).process(report_id)

    redirect = client.get(f"/api/v1/reports/{report_id}/download", headers=headers)

    assert redirect.status_code == 302
    assert redirect.headers["Cache-Control"] == "no-store"
    with urllib.request.urlopen(redirect.headers["Location"], timeout=10) as response:
        assert response.read().startswith(b"session_id,")
    resource = client.get(f"/api/v1/reports/{report_id}", headers=headers).get_json()
    assert resource["downloadUrlExpiresAt"] <= resource["expiresAt"]

    # Ended by both clocks: the API's (it answers 410) and the database's (the sweep's).
    assert eventually(
        lambda: (
            retention_ended(sessions, [report_id])
            and client.get(f"/api/v1/reports/{report_id}/download", headers=headers).status_code
            == 410
        )
    )
    key = reload(sessions, report_id).object_key
    storage = Storage(settings)
    assert storage.head(key) is not None
    before_sweep = client.get(f"/api/v1/reports/{report_id}/download", headers=headers)
    swept = Sweeper(settings, sessions, storage).run_once()
    after_sweep = client.get(f"/api/v1/reports/{report_id}/download", headers=headers)
    resource = client.get(f"/api/v1/reports/{report_id}", headers=headers).get_json()

    assert before_sweep.status_code == 410
    assert swept.expired >= 1  # this one, and any an earlier test left expired
    assert after_sweep.status_code == 410
    assert after_sweep.content_type == "application/problem+json"
    assert (resource["status"], resource["downloadUrl"]) == ("Expired", None)
    assert storage.head(key) is None
    assert objects_of(storage, report_id) == []


def test_the_sweep_trims_published_outbox_rows_and_keeps_the_rest(sessions, settings, make_report):
    old_published, recent_published, old_unpublished = (make_report().id for _ in range(3))
    with sessions.begin() as session:
        for report_id, published in [
            (old_published, "now() - interval '2 days'"),
            (recent_published, "now()"),
            (old_unpublished, "NULL"),
        ]:
            session.execute(
                text(
                    f"UPDATE outbox SET published_at = {published}, "
                    "created_at = now() - interval '2 days' "
                    "WHERE convert_from(body, 'UTF8')::jsonb ->> 'reportId' = :id"
                ),
                {"id": str(report_id)},
            )

    result = Sweeper(settings, sessions, Storage(settings)).run_once()

    with sessions() as session:
        remaining = {row.body for row in session.query(OutboxMessage).all()}
    survivors = {
        report_id
        for report_id in (old_published, recent_published, old_unpublished)
        if any(str(report_id).encode() in body for body in remaining)
    }
    assert survivors == {recent_published, old_unpublished}
    assert result.outbox_deleted >= 1


def test_two_sweepers_at_once_expire_each_report_once(
    make_report, make_exporter, sessions, settings
):
    # What earlier tests left expired is swept first, so the two sweepers below see only
    # these reports and their counts add up to exactly them.
    Sweeper(settings, sessions, Storage(settings)).run_once()
    reports = [make_report(report_type="users", parameters={"plan": "free"}) for _ in range(12)]
    exporter = make_exporter(retention_seconds=0.5)
    for report in reports:
        exporter.process(report.id)
    assert eventually(lambda: retention_ended(sessions, [report.id for report in reports]))
    sweepers = [Sweeper(settings, sessions, Storage(settings)) for _ in range(2)]
    barrier = threading.Barrier(2)
    results = []

    def sweep(sweeper: Sweeper) -> None:
        barrier.wait()
        results.append(sweeper.run_once())

    threads = [in_thread(sweep, sweeper) for sweeper in sweepers]
    for thread in threads:
        thread.join(timeout=30)

    assert all(reload(sessions, report.id).status == "Expired" for report in reports)
    assert len(results) == 2
    assert sum(result.expired for result in results) == len(reports)

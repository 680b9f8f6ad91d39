"""Failure is routine: api, relays and workers as real processes, with a fault proxy between
them and PostgreSQL, RabbitMQ and S3, cut, slowed and killed while reports are requested.

Every test has a database, queues and a bucket of its own (the two that need a large
report share one database with a big org, and nothing else).
"""

from __future__ import annotations

import logging
import random
import time
import urllib.request
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text

from relay.sweeper import Sweeper
from shared import demo
from shared.messages import ReportRequested
from shared.storage import report_object_key
from tests.conftest import RUN_ID, fresh_database
from tests.e2e.api_client import Answer
from tests.e2e.faultstack import SMALL_REPORT, FaultStack, eventually
from tests.services import s3_client

pytestmark = pytest.mark.e2e
log = logging.getLogger(__name__)

BIG_ORG = "bigco"
BIG_SESSIONS = 300_000  # about 15 MB of CSV: three multipart parts of 5 MiB
RELAY_KILLS = 6  # at least; more while the burst lasts
FULL_YEAR = {"fromDate": "2026-01-01", "toDate": "2026-12-31"}
THROWAWAY_TYPES = "tests.report_types.sleepy,tests.report_types.broken"


@pytest.fixture(scope="module")
def big_database(postgres_url):
    with fresh_database(postgres_url, f"reportbox_faults_big_{RUN_ID}") as url:
        demo.fill(url, [BIG_ORG], BIG_SESSIONS, users=None, albums=50)
        yield url


def accepted_ids(answers: list[Answer]) -> list[str]:
    assert Counter(answer.status for answer in answers) == {202: len(answers)}
    return [answer.body["reportId"] for answer in answers]


def big_report_rows(stack: FaultStack) -> int:
    with stack.sessions() as session:
        return session.execute(
            text(
                "SELECT count(*) FROM demo.sessions WHERE org = :org "
                "AND started_at >= '2026-01-01T00:00:00Z' AND started_at < '2027-01-01T00:00:00Z'"
            ),
            {"org": BIG_ORG},
        ).scalar_one()


def uploaded_parts(stack: FaultStack, key: str, upload_id: str) -> int:
    settings = stack.direct
    client = s3_client(settings)
    try:
        parts = client.list_parts(Bucket=settings.s3_bucket, Key=key, UploadId=upload_id)
    except client.exceptions.NoSuchUpload:
        return 0  # completed meanwhile
    return len(parts.get("Parts", []))


def wait_until_exporting(stack: FaultStack, report_id: str) -> None:
    def exporting() -> bool:
        """the export is under way"""
        report = stack.report(report_id)
        return report.status == "Processing" and report.rows_processed > 0

    eventually(exporting, timeout=60, interval=0.1)


# 1 ------------------------------------------------------------------------------------------
def test_every_post_is_accepted_while_the_broker_is_cut_and_all_complete_after(make_stack):
    stack = make_stack()
    stack.start_api()
    stack.start_relay()
    stack.start_worker()
    # Both up before the cut: a relay still starting on a loaded machine would first reach
    # the broker after the restore, and never meet the cut this test is about.
    eventually(lambda: "relay.started" in stack.log_text("relay"), timeout=60)
    eventually(lambda: stack.consumers() == 1, timeout=60)
    stack.proxies["rabbitmq"].cut()

    answers = stack.submit(200)  # real HTTP POSTs

    ids = accepted_ids(answers)
    time.sleep(1.0)
    assert stack.unpublished() == 200  # nothing got past the cut
    stack.proxies["rabbitmq"].restore()
    stack.wait_terminal(ids, timeout=120)
    figures = stack.check(ids)
    assert figures.ok and figures.completed == 200, f"checker: {figures}"
    assert len(stack.storage.object_keys()) == 200
    assert "relay.unavailable" in stack.log_text("relay")


# 2 ------------------------------------------------------------------------------------------
def test_a_relay_killed_again_and_again_during_a_burst_loses_nothing_and_builds_once(make_stack):
    # No worker yet, so the work queue counts what the relays published; a slow line to
    # PostgreSQL widens the moment between the broker's confirm and the commit.
    # A short lease: a copy that finds its report held by the other export slot is parked
    # for the lease, then comes back to skip it (worker item 12), within seconds.
    stack = make_stack(relay_batch_size=25, lease_seconds=5)
    stack.start_api()
    relay = stack.start_relay()
    stack.proxies["postgres"].latency = 0.03

    kills = 0
    with ThreadPoolExecutor(1) as background:
        burst = background.submit(stack.submit, 300)
        while kills < RELAY_KILLS or (not burst.done() and kills < 2 * RELAY_KILLS):
            # Every other kill lands between confirm and commit; the rest at random.
            if kills % 2 == 0:
                before = stack.published_not_marked()
                eventually(
                    lambda b=before: stack.published_not_marked() > b or not stack.unpublished(),
                    timeout=30,
                    interval=0.01,
                )
            else:
                eventually(lambda r=relay: "relay.started" in r.log(), timeout=15)
                time.sleep(random.uniform(0.05, 0.5))
            stack.kill(relay)
            kills += 1
            relay = stack.start_relay()
        ids = accepted_ids(burst.result())
    stack.proxies["postgres"].latency = 0
    eventually(lambda: stack.unpublished() == 0, timeout=60)
    published_twice = stack.queue_depth(stack.direct.work_queue) - len(ids)
    stack.start_worker()

    stack.wait_terminal(ids, timeout=120)
    figures = stack.check(ids)
    summary = f"{kills} kills, {published_twice} published twice: {figures}"
    log.info("relay kills: %s", summary)
    assert figures.ok and figures.completed == 300, summary
    assert published_twice > 0, summary  # a kill after the confirm made the relay publish again
    assert len(stack.storage.object_keys()) == 300
    # Every message published again was a no-op for the worker: skipped at once, or parked
    # while the original was exporting and skipped when it came back.
    assert eventually(
        lambda: stack.log_text("worker").count("export.skipped") == published_twice, timeout=60
    ), summary


# 3 ------------------------------------------------------------------------------------------
def test_a_worker_killed_mid_upload_leaves_no_object_and_the_report_completes_on_redelivery(
    make_stack, big_database
):
    stack = make_stack(database_url=big_database)
    stack.start_api()
    stack.start_relay()
    worker = stack.start_worker()
    stack.proxies["s3"].latency = 0.02  # an upload that lasts long enough to be cut short
    report_id = stack.request(parameters=FULL_YEAR, org=BIG_ORG).body["reportId"]
    key = report_object_key(BIG_ORG, report_id, 1, "csv")  # the first attempt's

    def first_part_uploaded() -> bool:
        """the first part of the file is in storage"""
        uploads = [u for u in stack.storage.incomplete_uploads() if u["Key"] == key]
        return bool(uploads) and uploaded_parts(stack, key, uploads[0]["UploadId"]) >= 1

    eventually(first_part_uploaded, timeout=60, interval=0.1)

    stack.kill(worker)

    assert stack.report(report_id).status == "Processing"
    assert stack.storage.head(key) is None  # a part was uploaded, but no object is visible
    assert key in {upload["Key"] for upload in stack.storage.incomplete_uploads()}
    stack.proxies["s3"].latency = 0
    stack.start_worker()
    stack.wait_terminal([report_id], timeout=60)
    report = stack.report(report_id)
    assert (report.status, report.attempts) == ("Completed", 2)
    assert report.object_key == report_object_key(BIG_ORG, report_id, 2, "csv")
    expected = big_report_rows(stack)
    url = stack.storage.presign_download(report.object_key, "big.csv", "text/csv", 60)
    with urllib.request.urlopen(url, timeout=30) as response:
        body = response.read()
    assert report.row_count == expected == body.count(b"\n") - 1
    assert report.size_bytes == len(body)

    sweep = Sweeper(
        stack.direct.with_overrides(incomplete_upload_max_age_hours=0),
        stack.sessions,
        stack.storage,
    ).run_once()

    assert sweep.uploads_aborted >= 1
    assert stack.storage.incomplete_uploads() == []
    assert stack.check([report_id]).ok


# 4 ------------------------------------------------------------------------------------------
def test_one_message_delivered_five_times_to_three_workers_is_built_once(make_stack):
    stack = make_stack()
    stack.start_api()
    for _ in range(3):
        stack.start_worker()
    eventually(lambda: stack.consumers() == 3, timeout=30)
    report_id = stack.request().body["reportId"]
    with stack.sessions.begin() as session:  # what a relay would take, and mark published
        message = session.execute(
            text(
                "UPDATE outbox SET published_at = now() WHERE published_at IS NULL "
                "RETURNING message_id, body"
            )
        ).one()

    stack.publish(bytes(message.body), str(message.message_id), times=5)

    stack.wait_terminal([report_id], timeout=30)

    def all_handled() -> bool:
        """every copy was acknowledged as built or skipped"""
        logs = stack.log_text("worker")
        handled = logs.count(f"export.completed report_id={report_id}")
        return handled + logs.count(f"export.skipped report_id={report_id}") == 5

    eventually(all_handled, timeout=30)
    logs = stack.log_text("worker")
    assert logs.count(f"export.started report_id={report_id}") == 1
    assert logs.count(f"export.completed report_id={report_id}") == 1
    assert logs.count(f"export.skipped report_id={report_id}") == 4
    assert stack.report(report_id).attempts == 1
    assert stack.check([report_id]).ok
    assert stack.queue_depth(stack.direct.work_queue) == 0


# 5 ------------------------------------------------------------------------------------------
def test_poison_is_dead_lettered_after_one_delivery_and_the_worker_serves_on(make_stack):
    stack = make_stack()
    stack.start_api()
    stack.start_relay()
    worker = stack.start_worker()
    eventually(lambda: stack.consumers() == 1, timeout=30)
    poison, unknown = f"poison-{uuid.uuid4().hex}", f"unknown-{uuid.uuid4().hex}"

    stack.publish(b"\xff{not json", poison)
    stack.publish(ReportRequested.new(uuid.uuid4()).encode(), unknown)  # names no report
    report_id = stack.request().body["reportId"]

    stack.wait_terminal([report_id], timeout=30)
    assert stack.report(report_id).status == "Completed"
    dead_letter_queue = stack.direct.dead_letter_queue
    eventually(lambda: stack.queue_depth(dead_letter_queue) == 2, timeout=15)
    dead = stack.drain(dead_letter_queue)
    assert {properties.message_id for properties, _ in dead} == {poison, unknown}
    for properties, _ in dead:
        (death,) = properties.headers["x-death"]
        assert (death["count"], str(death["reason"])) == (1, "rejected")
    logs = stack.log_text("worker")
    assert logs.count(f"worker.poison_message message_id={poison}") == 1
    assert logs.count(f"worker.dead_lettered message_id={unknown}") == 1
    assert worker.alive()


# 6 ------------------------------------------------------------------------------------------
def test_storage_cut_during_an_export_is_retried_with_backoff_and_completes_after_restore(
    make_stack,
):
    stack = make_stack(max_attempts=10)
    stack.start_api()
    stack.start_relay()
    stack.start_worker()
    stack.proxies["s3"].cut()
    report_id = stack.request().body["reportId"]

    def retried_twice() -> bool:
        """two attempts failed and were parked in the retry queue"""
        logs = stack.log_text("worker")
        return logs.count(f"export.retrying report_id={report_id}") >= 2

    eventually(retried_twice, timeout=60)
    stack.proxies["s3"].restore()

    stack.wait_terminal([report_id], timeout=60)
    report = stack.report(report_id)
    assert report.status == "Completed", report.error_message
    assert report.attempts >= 3
    assert "worker.retry_scheduled" in stack.log_text("worker")
    assert stack.check([report_id]).ok


def test_storage_down_past_every_retry_fails_the_report_readably_and_dead_letters_it(
    make_stack,
):
    stack = make_stack(max_attempts=3)
    stack.start_api()
    stack.start_relay()
    stack.start_worker()
    stack.proxies["s3"].cut()
    client = stack.client()
    report_id = client.request_report("sessions", SMALL_REPORT).body["reportId"]

    stack.wait_terminal([report_id], timeout=90)

    resource = client.report(report_id).body
    assert resource["status"] == "Failed"
    assert resource["error"] == {
        "code": "unavailable",
        "message": "Gave up after 3 attempts: the file storage could not be reached.",
    }
    assert stack.report(report_id).attempts == 3
    dead = eventually(lambda: stack.drain(stack.direct.dead_letter_queue), timeout=15)
    assert [str(ReportRequested.decode(body).report_id) for _, body in dead] == [report_id]
    assert stack.storage.object_keys() == []


# 7 ------------------------------------------------------------------------------------------
def test_relay_and_worker_ride_out_a_postgresql_cut_and_finish_what_was_in_flight(make_stack):
    stack = make_stack()
    stack.start_api()
    relay = stack.start_relay()
    worker = stack.start_worker()
    stack.proxies["s3"].latency = 0.05  # keeps exports in flight
    ids = accepted_ids(stack.submit(20))
    eventually(lambda: stack.statuses(ids).get("Processing"), timeout=30, interval=0.05)

    stack.proxies["postgres"].cut()
    time.sleep(3.0)
    stack.proxies["postgres"].restore()
    stack.proxies["s3"].latency = 0

    stack.wait_terminal(ids, timeout=90)
    figures = stack.check(ids)
    assert figures.ok and figures.completed == 20, f"checker: {figures}"
    assert relay.alive() and worker.alive()
    assert "relay.unavailable" in stack.log_text("relay")
    worker_log = stack.log_text("worker")
    assert any(
        sign in worker_log
        for sign in ("worker.database_unavailable", "export.retrying", "lease.renew_failed")
    ), worker_log[-3000:]


# 8 ------------------------------------------------------------------------------------------
def test_sigterm_mid_export_hands_the_report_back_so_it_is_never_stuck(make_stack):
    # A query that sleeps for an hour and a lease far longer than the test: the report can
    # neither finish before the signal nor be taken over, only handed back.
    stack = make_stack(
        shutdown_grace_seconds=1, lease_seconds=120, report_type_modules=THROWAWAY_TYPES
    )
    stack.start_api()
    stack.start_relay()
    worker = stack.start_worker()
    report_id = stack.request("sleepy", {"seconds": 3600}).body["reportId"]
    eventually(lambda: stack.report(report_id).status == "Processing", timeout=30)

    assert worker.stop(timeout=30) == 0  # the hand-back cut the running query short

    report = stack.report(report_id)
    assert (report.status, report.lease_expires_at, report.attempts) == ("Pending", None, 1)
    assert stack.queue_depth(stack.direct.work_queue) == 1
    assert f"export.handed_back report_id={report_id}" in stack.log_text("worker")
    stack.start_worker()
    eventually(lambda: stack.report(report_id).attempts == 2, timeout=30)  # at once, no lease
    admin = stack.client(roles=("admin",))
    assert admin.request("DELETE", f"/api/v1/reports/{report_id}").status == 202
    stack.wait_terminal([report_id], timeout=30)
    assert stack.report(report_id).status == "Cancelled"


def test_an_export_that_raises_what_nobody_expected_fails_once_and_is_acked(make_stack):
    stack = make_stack(report_type_modules=THROWAWAY_TYPES)
    stack.start_api()
    stack.start_relay()
    stack.start_worker()

    report_id = stack.request("broken", {}).body["reportId"]

    stack.wait_terminal([report_id], timeout=30)
    report = stack.report(report_id)
    assert (report.status, report.error_code, report.attempts) == ("Failed", "internal", 1)
    assert "OverflowError" in report.error_message
    assert set(stack.stop_all().values()) == {0}  # every ack reached the broker by then
    assert stack.queue_depth(stack.direct.work_queue) == 0
    assert stack.queue_depth(stack.direct.dead_letter_queue) == 0
    assert stack.queue_depth(stack.direct.retry_queue) == 0


# 9 ------------------------------------------------------------------------------------------
def test_two_relays_and_two_workers_account_for_every_one_of_500_requests(make_stack):
    stack = make_stack()
    stack.start_api()
    for _ in range(2):
        stack.start_relay()
        stack.start_worker()

    ids = accepted_ids(stack.submit(500))

    stack.wait_terminal(ids, timeout=180)
    figures = stack.check(ids)
    log.info("two relays, two workers: %s", figures)
    assert figures.ok and figures.completed == 500, f"checker: {figures}"
    processes = ("api", "relay-1", "relay-2", "worker-1", "worker-2")
    assert stack.stop_all() == dict.fromkeys(processes, 0)  # each left on SIGTERM by itself


# 10 -----------------------------------------------------------------------------------------
def test_a_report_whose_message_was_purged_is_re_enqueued_and_completes(make_stack):
    # Above the fault stack's 2 s backoff cap: the settings refuse anything shorter.
    stack = make_stack(stuck_after_seconds=3, cleanup_interval_seconds=0.5)
    stack.start_api()
    stack.start_relay()
    report_id = stack.request().body["reportId"]
    eventually(lambda: stack.unpublished() == 0, timeout=30)
    eventually(lambda: stack.queue_depth(stack.direct.work_queue) == 1, timeout=10)

    with stack.channel() as channel:
        channel.queue_purge(stack.direct.work_queue)
    stack.start_worker()

    stack.wait_terminal([report_id], timeout=30)
    assert stack.report(report_id).status == "Completed"
    assert f"stuck.reenqueued report_id={report_id}" in stack.log_text("relay")
    assert stack.check([report_id]).ok

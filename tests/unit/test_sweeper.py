from __future__ import annotations

from datetime import UTC, datetime, timedelta

from relay.sweeper import abandoned_uploads
from shared.storage import KEY_PREFIX, StoredObject

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
PREFIX = KEY_PREFIX


def upload(age: timedelta, key: str = f"{KEY_PREFIX}acme/r/1.csv") -> dict:
    return {"Key": key, "UploadId": f"{key} {age}", "Initiated": NOW - age}


def test_only_uploads_begun_before_the_cutoff_are_abandoned():
    uploads = [upload(timedelta(hours=25)), upload(timedelta(hours=23)), upload(timedelta(0))]

    stale = abandoned_uploads(uploads, NOW - timedelta(hours=24), PREFIX)

    assert stale == [uploads[0]]


def test_uploads_outside_the_key_prefix_are_never_abandoned_whatever_their_age():
    old = timedelta(days=30)
    ours = upload(old)
    theirs = [upload(old, "backups/db.dump"), upload(old, "reports-archive/x"), upload(old, "r")]

    stale = abandoned_uploads([*theirs, ours], NOW - timedelta(hours=24), PREFIX)

    assert stale == [ours]


def test_a_report_object_key_names_its_report_and_attempt_and_no_other_key_does():
    import uuid

    from shared.storage import report_attempt_of, report_object_key

    report_id = uuid.uuid4()
    assert report_attempt_of(report_object_key("acme", report_id, 3, "csv.gz")) == (report_id, 3)
    for key in ("backups/db.dump", f"reports/acme/{report_id}.csv", "reports/acme/x/1.csv"):
        assert report_attempt_of(key) is None


def stored(key: str, age: timedelta) -> StoredObject:
    return StoredObject(key, NOW - age)


def test_an_attempt_object_is_an_orphan_only_when_its_report_is_gone_or_terminal_elsewhere():
    import uuid

    from relay.sweeper import ReportFile, orphaned
    from shared.statuses import ReportStatus
    from shared.storage import report_object_key

    report_id = uuid.uuid4()
    first, second = (report_object_key("acme", report_id, n, "csv") for n in (1, 2))
    old, cutoff = timedelta(hours=2), NOW - timedelta(hours=1)

    def judged(key: str, report: ReportFile | None, age: timedelta = old) -> bool:
        return orphaned(stored(key, age), report, cutoff)

    assert judged(first, None)  # its report no longer exists
    assert judged(first, ReportFile(ReportStatus.COMPLETED, second))  # a stale attempt's
    assert not judged(second, ReportFile(ReportStatus.COMPLETED, second))  # the file it serves
    assert judged(second, ReportFile(ReportStatus.EXPIRED, second))  # past its retention
    for status in (ReportStatus.FAILED, ReportStatus.CANCELLED):
        assert judged(first, ReportFile(status, None))
    for status in (ReportStatus.PENDING, ReportStatus.PROCESSING):  # the worker's own to handle
        assert not judged(first, ReportFile(status, None))
    # Younger than the longest export: an attempt may still be writing it.
    assert not judged(first, None, age=timedelta(minutes=59))


def test_only_attempt_objects_are_ever_judged_orphans():
    from relay.sweeper import orphaned

    for key in ("reports/acme/loose.csv", "reports/acme/x/1.csv", "backups/db.dump"):
        assert not orphaned(stored(key, timedelta(days=30)), None, NOW)


def test_the_store_expires_files_only_after_the_longest_they_are_downloadable():
    from relay.sweeper import lifecycle_days

    assert lifecycle_days(24.0, 3600) == 3  # 25 hours, whole days up, plus a day's margin
    assert lifecycle_days(1.0, 60) == 2
    assert lifecycle_days(48.0, 0) == 3


def test_the_lifecycle_rule_replaces_only_reportbox_s_own_rule():
    from shared.storage import LIFECYCLE_RULE_ID, lifecycle_rules

    theirs = {"ID": "backups", "Filter": {"Prefix": "backups/"}, "Status": "Enabled"}
    earlier = {"ID": LIFECYCLE_RULE_ID, "Filter": {"Prefix": "reports/"}, "Expiration": {"Days": 9}}

    rules = lifecycle_rules([theirs, earlier], "reports/", 3)

    assert rules[0] == theirs
    assert [rule["ID"] for rule in rules] == ["backups", LIFECYCLE_RULE_ID]
    assert rules[1]["Expiration"] == {"Days": 3}
    assert rules[1]["Filter"] == {"Prefix": "reports/"}

from datetime import UTC, datetime, timedelta

from relay.sweeper import abandoned_uploads
from shared.storage import KEY_PREFIX

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

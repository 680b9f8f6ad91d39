from datetime import UTC, datetime, timedelta

from relay.sweeper import abandoned_uploads

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def upload(age: timedelta) -> dict:
    return {"Key": "k", "UploadId": str(age), "Initiated": NOW - age}


def test_only_uploads_begun_before_the_cutoff_are_abandoned():
    uploads = [upload(timedelta(hours=25)), upload(timedelta(hours=23)), upload(timedelta(0))]

    stale = abandoned_uploads(uploads, NOW - timedelta(hours=24))

    assert stale == [uploads[0]]

"""Uploads: a file smaller than one part is a single PUT; a larger one streams in parts."""

import hashlib
import uuid

import pytest

from shared.storage import Storage, StorageError
from tests.services import s3_client


def test_a_file_smaller_than_one_part_is_one_put_with_its_content_type(settings):
    storage = Storage(settings)
    key = f"acme/{uuid.uuid4()}/1.csv"

    with storage.start_upload(key, "text/csv; charset=utf-8") as upload:
        upload.write(b"a,b\n")
        upload.write(b"1,2\n")
        uploaded = upload.complete()

    assert upload.upload_id is None  # no multipart upload was ever begun
    assert (uploaded.size_bytes, uploaded.sha256) == (8, hashlib.sha256(b"a,b\n1,2\n").hexdigest())
    stored = s3_client(settings).get_object(Bucket=settings.s3_bucket, Key=key)
    assert (stored["Body"].read(), stored["ContentType"]) == (
        b"a,b\n1,2\n",
        "text/csv; charset=utf-8",
    )


def test_an_empty_file_is_stored_empty(settings):
    storage = Storage(settings)
    key = f"acme/{uuid.uuid4()}/1.csv"

    with storage.start_upload(key, "text/csv") as upload:
        uploaded = upload.complete()

    assert uploaded.size_bytes == 0
    assert storage.head(key)["ContentLength"] == 0


def test_a_file_of_several_parts_streams_in_parts_with_the_same_bytes(settings):
    storage = Storage(settings)
    key = f"acme/{uuid.uuid4()}/1.csv"
    part = settings.multipart_part_bytes
    chunks = [bytes([65 + n]) * (part // 2 + 7) for n in range(5)]  # 2.5 parts and a bit

    with storage.start_upload(key, "text/csv") as upload:
        for chunk in chunks:
            upload.write(chunk)
        assert upload.upload_id is not None
        uploaded = upload.complete()

    body = b"".join(chunks)
    assert (uploaded.size_bytes, uploaded.sha256) == (len(body), hashlib.sha256(body).hexdigest())
    stored = s3_client(settings).get_object(Bucket=settings.s3_bucket, Key=key)["Body"].read()
    assert stored == body


def test_an_upload_left_by_an_exception_leaves_nothing(settings):
    storage = Storage(settings)
    key = f"acme/{uuid.uuid4()}/1.csv"

    try:
        with storage.start_upload(key, "text/csv") as upload:
            upload.write(b"y" * (settings.multipart_part_bytes + 1))
            raise RuntimeError("the export stopped")
    except RuntimeError:
        pass

    assert storage.head(key) is None
    assert key not in {u["Key"] for u in storage.incomplete_uploads()}


def test_a_part_that_fails_on_its_way_fails_the_upload_and_leaves_nothing(settings):
    # Parts are uploaded on a thread of their own while the next one fills: a part refused
    # there must still end the upload with an error, never in a completed object.
    storage = Storage(settings)
    key = f"acme/{uuid.uuid4()}/1.csv"
    part = settings.multipart_part_bytes

    with pytest.raises(StorageError), storage.start_upload(key, "text/csv") as upload:
        upload.write(b"a" * part)  # the first part leaves for S3
        s3_client(settings).abort_multipart_upload(
            Bucket=settings.s3_bucket, Key=key, UploadId=upload.upload_id
        )
        upload.write(b"b" * part)  # refused: the upload no longer exists
        upload.write(b"c" * 10)
        upload.complete()

    assert storage.head(key) is None
    assert key not in {u["Key"] for u in storage.incomplete_uploads()}

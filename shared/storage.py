"""The one S3 client: streaming multipart uploads and presigned downloads."""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, BinaryIO

import boto3
import botocore.exceptions
from botocore.config import Config

from shared.config import Settings

if TYPE_CHECKING:  # boto3-stubs' S3 types, a development dependency only
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import (
        HeadObjectOutputTypeDef,
        LifecycleRuleOutputTypeDef,
        LifecycleRuleTypeDef,
        MultipartUploadTypeDef,
    )

# Transient faults: the endpoint cannot be reached, drops the connection or is too slow
# (ConnectionError covers refused and timed-out connects, HTTPClientError closed connections,
# read timeouts and broken response streams); throttling is a 429 or 503 below.
_UNAVAILABLE = (
    botocore.exceptions.ConnectionError,
    botocore.exceptions.HTTPClientError,
)


class StorageError(RuntimeError):
    """S3 refused a request (missing bucket, access denied, bad request)."""


class StorageUnavailable(StorageError):
    """S3 could not be reached; trying again later may succeed."""


def _translate(exc: Exception) -> StorageError:
    if isinstance(exc, _UNAVAILABLE):
        return StorageUnavailable(str(exc))
    if isinstance(exc, botocore.exceptions.ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if status >= 500 or status == 429:
            return StorageUnavailable(str(exc))
    return StorageError(str(exc))


def _answer_field(answer: dict[str, Any], name: str) -> str:
    # A connection cut inside the response body can leave botocore with an answer that
    # parsed, but lacks what every successful answer has.
    value = answer.get(name)
    if not isinstance(value, str) or not value:
        raise StorageUnavailable(f"S3 answered without {name}: the response was cut short")
    return value


# Every object Reportbox writes lives under this prefix, and the sweep lists and aborts
# uploads only there: the bucket may be shared with other applications. A constant, not a
# setting: changed on a running deployment, the sweep would no longer see the uploads left
# under the old prefix.
KEY_PREFIX = "reports/"


def report_object_key(org: str, report_id: object, attempt: int, extension: str) -> str:
    """Where one attempt of a report stores its file: each attempt has a key of its own."""
    return f"{KEY_PREFIX}{org}/{report_id}/{attempt}.{extension}"


def report_attempt_of(key: str) -> tuple[uuid.UUID, int] | None:
    """The report and attempt a key of report_object_key() names; None for any other key."""
    parts = key.removeprefix(KEY_PREFIX).split("/") if key.startswith(KEY_PREFIX) else []
    if len(parts) != 3:
        return None
    attempt = parts[2].partition(".")[0]
    try:
        return uuid.UUID(parts[1]), int(attempt)
    except ValueError:
        return None


# The lifecycle rule Reportbox owns in the bucket; rules of other applications are kept.
LIFECYCLE_RULE_ID = "reportbox-reports-expiry"
# What a store answers when the bucket has no lifecycle rules yet.
_NO_LIFECYCLE = {"NoSuchLifecycleConfiguration"}
# What a store answers when it does not implement lifecycle rules at all.
_LIFECYCLE_UNSUPPORTED_CODES = {"NotImplemented", "MethodNotAllowed"}
_LIFECYCLE_UNSUPPORTED_STATUSES = {405, 501}


def _unsupported(exc: botocore.exceptions.ClientError) -> bool:
    code = exc.response.get("Error", {}).get("Code")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return code in _LIFECYCLE_UNSUPPORTED_CODES or status in _LIFECYCLE_UNSUPPORTED_STATUSES


@dataclass(frozen=True)
class StoredObject:
    key: str
    last_modified: datetime


@dataclass(frozen=True)
class ObjectPage:
    objects: list[StoredObject]
    # Where the next page starts (the last key of this one); None when the listing ended.
    next_after: str | None


def lifecycle_rules(
    existing: Sequence[LifecycleRuleOutputTypeDef], prefix: str, days: int
) -> list[LifecycleRuleOutputTypeDef | LifecycleRuleTypeDef]:
    """The bucket's rules with Reportbox's expiry of `prefix` in place of any earlier one:
    putting a lifecycle configuration replaces the whole of it, and the bucket may be shared."""
    ours: LifecycleRuleTypeDef = {
        "ID": LIFECYCLE_RULE_ID,
        "Filter": {"Prefix": prefix},
        "Status": "Enabled",
        "Expiration": {"Days": days},
    }
    return [rule for rule in existing if rule.get("ID") != LIFECYCLE_RULE_ID] + [ours]


@dataclass(frozen=True)
class UploadedObject:
    key: str
    size_bytes: int
    sha256: str


class MultipartUpload:
    """Streams bytes to one object; holds at most two parts in memory.

    The multipart upload begins only when a first part is full: a file smaller than one part
    (most reports) is one PUT, not three requests. A full part is hashed and uploaded on a
    thread of its own while the next one fills, so the caller (reading a COPY) never waits
    for S3 unless the previous part is still on its way. Use as a context manager: leaving it
    by an exception aborts the upload, so no half-written object and no orphaned parts are
    left.
    """

    def __init__(self, client: S3Client, bucket: str, key: str, content_type: str, part_bytes: int):
        self._client = client
        self._bucket = bucket
        self.key = key
        self._content_type = content_type
        self._part_bytes = part_bytes
        self._buffer = bytearray()
        self._parts: list[dict[str, Any]] = []
        self._sha256 = hashlib.sha256()
        self._size = 0
        self.upload_id: str | None = None
        self._uploader: ThreadPoolExecutor | None = None
        self._in_flight: Future[None] | None = None  # the part being uploaded, at most one

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._buffer += data
        self._size += len(data)
        if len(self._buffer) >= self._part_bytes:
            self._flush()

    def complete(self) -> UploadedObject:
        try:
            self._wait_for_part()
            self._sha256.update(self._buffer)
            if self.upload_id is None:
                self._request(
                    "put_object", Body=bytes(self._buffer), ContentType=self._content_type
                )
            else:
                if self._buffer:
                    self._upload_part(len(self._parts) + 1, bytes(self._buffer))
                self._call("complete_multipart_upload", MultipartUpload={"Parts": self._parts})
        finally:
            self._stop_uploader()
        self._buffer.clear()
        return UploadedObject(self.key, self._size, self._sha256.hexdigest())

    def abort(self) -> None:
        with contextlib.suppress(StorageError):
            self._wait_for_part()  # a part landing after the abort would be orphaned
        self._stop_uploader()
        if self.upload_id is not None:
            self._call("abort_multipart_upload")

    def _flush(self) -> None:
        self._wait_for_part()
        if self.upload_id is None:
            created = self._request("create_multipart_upload", ContentType=self._content_type)
            self.upload_id = _answer_field(created, "UploadId")
        if self._uploader is None:
            self._uploader = ThreadPoolExecutor(1, thread_name_prefix="upload")
        part = bytes(self._buffer)
        self._buffer.clear()
        self._in_flight = self._uploader.submit(self._hash_and_upload, len(self._parts) + 1, part)

    def _hash_and_upload(self, number: int, part: bytes) -> None:
        # hashlib lets go of the GIL for large buffers: the caller goes on reading meanwhile.
        # Parts are hashed one after another on this one thread, so in order.
        self._sha256.update(part)
        self._upload_part(number, part)

    def _wait_for_part(self) -> None:
        """Until the part in flight has landed; its failure is raised here."""
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is not None:
            in_flight.result()

    def _stop_uploader(self) -> None:
        if self._uploader is not None:
            self._uploader.shutdown(wait=True)
            self._uploader = None

    def _upload_part(self, number: int, part: bytes) -> None:
        answer = self._call("upload_part", PartNumber=number, Body=part)
        self._parts.append({"PartNumber": number, "ETag": _answer_field(answer, "ETag")})

    def _call(self, operation: str, **arguments: Any) -> Any:
        return self._request(operation, UploadId=self.upload_id, **arguments)

    def _request(self, operation: str, **arguments: Any) -> Any:
        method = getattr(self._client, operation)
        try:
            return method(Bucket=self._bucket, Key=self.key, **arguments)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise _translate(exc) from exc

    def __enter__(self) -> MultipartUpload:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            try:
                self.abort()
            except StorageError:
                pass  # the incomplete-upload sweep removes what this could not


class Storage:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.bucket = settings.s3_bucket
        self._client = self._make_client(settings.s3_endpoint_url)
        # The Host header is signed, so URLs for clients are signed for the public endpoint.
        self._presigner = self._make_client(settings.presign_endpoint_url)

    def _make_client(self, endpoint_url: str | None) -> S3Client:
        settings = self._settings
        return boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=settings.aws_region,
            aws_access_key_id=settings.aws_access_key_id,
            aws_secret_access_key=settings.aws_secret_access_key,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                connect_timeout=5,
                read_timeout=60,
                retries={"mode": "standard", "max_attempts": 3},
                # Checksums only where S3 requires them: the worker hashes every file itself
                # (sha256, in the report), and the default CRC32 of every body cost CPU on
                # each of the many small PUTs. Parameters come from this module only, so
                # botocore's validation of them per call is skipped too.
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
                parameter_validation=False,
            ),
        )

    def start_upload(self, key: str, content_type: str) -> MultipartUpload:
        return MultipartUpload(
            self._client, self.bucket, key, content_type, self._settings.multipart_part_bytes
        )

    def presign_download(self, key: str, file_name: str, content_type: str, ttl: int) -> str:
        return self._presigner.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": key,
                "ResponseContentDisposition": f'attachment; filename="{file_name}"',
                "ResponseContentType": content_type,
            },
            ExpiresIn=ttl,
        )

    @contextlib.contextmanager
    def open_object(self, key: str) -> Iterator[BinaryIO]:
        """The object's body as a stream read from S3 as it is consumed, never whole."""
        try:
            body = self._client.get_object(Bucket=self.bucket, Key=key)["Body"]
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise _translate(exc) from exc
        try:
            # botocore's StreamingBody reads like a binary file (read, iteration, close) but
            # is no typing.BinaryIO, the type the deliveries (the one caller) read through.
            yield body  # type: ignore[misc]
        finally:
            body.close()

    def head(self, key: str) -> HeadObjectOutputTypeDef | None:
        try:
            return self._client.head_object(Bucket=self.bucket, Key=key)
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise _translate(exc) from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise _translate(exc) from exc

    def delete(self, key: str) -> None:
        try:
            self._client.delete_object(Bucket=self.bucket, Key=key)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise _translate(exc) from exc

    def ensure_bucket(self) -> None:
        """Create the bucket if missing: for local runs and tests (compose has its own step)."""
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except botocore.exceptions.ClientError:
            try:
                self._client.create_bucket(Bucket=self.bucket)
            except botocore.exceptions.ClientError as exc:
                raise _translate(exc) from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise _translate(exc) from exc

    def object_keys(self, prefix: str = "") -> list[str]:
        """Every object key in the bucket (under `prefix`)."""
        keys: list[str] = []
        try:
            paginator = self._client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                keys.extend(item["Key"] for item in page.get("Contents", []))
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise _translate(exc) from exc
        return keys

    def object_page(self, prefix: str, after: str | None, max_keys: int) -> ObjectPage:
        """Up to max_keys objects under `prefix` whose keys sort after `after`, in key order.

        A page starts after a key, not at a continuation token: the sweep keeps its place in
        the listing between passes, and a key stays meaningful where a token may expire.
        """
        arguments: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix, "MaxKeys": max_keys}
        if after is not None:
            arguments["StartAfter"] = after
        try:
            answer = self._client.list_objects_v2(**arguments)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise _translate(exc) from exc
        objects = [
            StoredObject(item["Key"], item["LastModified"]) for item in answer.get("Contents", [])
        ]
        more = answer.get("IsTruncated") and objects
        return ObjectPage(objects, objects[-1].key if more else None)

    def expire_under(self, prefix: str, days: int) -> bool:
        """Have the store itself delete objects under `prefix` `days` after their creation;
        False when the store does not implement lifecycle rules."""
        try:
            try:
                existing = self._client.get_bucket_lifecycle_configuration(Bucket=self.bucket)
                rules = existing.get("Rules", [])
            except botocore.exceptions.ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in _NO_LIFECYCLE:
                    raise
                rules = []
            self._client.put_bucket_lifecycle_configuration(
                Bucket=self.bucket,
                LifecycleConfiguration={"Rules": lifecycle_rules(rules, prefix, days)},
            )
        except botocore.exceptions.ClientError as exc:
            if _unsupported(exc):
                return False
            raise _translate(exc) from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise _translate(exc) from exc
        return True

    def incomplete_uploads(self) -> list[MultipartUploadTypeDef]:
        """Reportbox's multipart uploads (under the key prefix) begun and neither completed nor
        aborted (Key, UploadId, Initiated). Other applications' uploads are never listed."""
        uploads: list[MultipartUploadTypeDef] = []
        try:
            paginator = self._client.get_paginator("list_multipart_uploads")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=KEY_PREFIX):
                uploads.extend(page.get("Uploads", []))
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise _translate(exc) from exc
        return uploads

    def abort_upload(self, key: str, upload_id: str) -> bool:
        """Abort one upload; False if it was already gone (another sweeper, or its worker)."""
        try:
            self._client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "NoSuchUpload":
                raise _translate(exc) from exc
            return False
        except botocore.exceptions.BotoCoreError as exc:
            raise _translate(exc) from exc
        return True

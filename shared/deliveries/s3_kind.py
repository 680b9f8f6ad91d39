"""The s3 delivery kind: the run's file copied into a customer's bucket.

This module is the edge of the customer's store (shared/storage.py stays our own bucket's);
both build their clients with storage.make_client, one rule for SigV4 and timeouts.

The copy is server-side (CopyObject, or UploadPartCopy above CopyObject's 5 GiB) when the
customer's bucket lives in our own store: the bytes then never leave it. The customer's
credentials must also be allowed to read our bucket, which they usually are not; an
AccessDenied on the copy falls back to streaming. Any other store gets the file streamed
from ours (DeliveredFile.open()), one part in memory at a time.
"""

from __future__ import annotations

import math
import re
import string
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

import botocore.exceptions
from boto3.s3.transfer import TransferConfig

from shared.config import Settings
from shared.deliveries import fields
from shared.deliveries.targets import (
    DeliveredFile,
    DeliveryFailed,
    InvalidTarget,
    PermanentDeliveryFailure,
    TransientDeliveryFailure,
)
from shared.storage import StorageUnavailable, make_client

MiB = 1024 * 1024
GiB = 1024 * MiB

DEFAULT_KEY_TEMPLATE = "{definitionName}/{scheduledDate}/{fileName}"
PLACEHOLDERS = ("definitionName", "scheduledDate", "fileName")
# What a template is rendered with at save, to show that its keys are safe.
_SAMPLE = {"definitionName": "name", "scheduledDate": "2026-01-01", "fileName": "file.csv"}
MAX_KEY_BYTES = 1024  # S3's limit on a key, in UTF-8
# S3's bucket names: 3-63 lowercase letters, digits, dots and hyphens, a letter or digit at
# both ends; never formatted like an IPv4 address.
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_IPV4 = re.compile(r"\d+\.\d+\.\d+\.\d+")
_REGION = re.compile(r"[a-z0-9-]{1,32}")

# Codes worth another attempt; besides these, any 5xx and 429 is too.
_TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "RequestTimeout",
        "InternalError",
        "ServiceUnavailable",
    }
)
_CREDENTIAL_CODES = frozenset({"InvalidAccessKeyId", "AccessDenied", "InvalidToken"})
_REGION_CODES = frozenset(
    {"AuthorizationHeaderMalformed", "PermanentRedirect", "IllegalLocationConstraintException"}
)
# The endpoint could not be reached, dropped the connection or was too slow.
_UNREACHABLE = (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError)
_BOTO_ERRORS = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)


@dataclass(frozen=True)
class OwnStore:
    """Where Reportbox's own bucket lives (Settings.s3_endpoint_url; None is AWS)."""

    endpoint_url: str | None


# ---------------------------------------------------------------------------------------
# Pure rules


def bucket_name(value: str) -> str:
    if not _BUCKET.fullmatch(value) or ".." in value or _IPV4.fullmatch(value):
        raise InvalidTarget(
            "bucket",
            "must be an S3 bucket name: 3 to 63 lowercase letters, digits, dots and hyphens, "
            "starting and ending with a letter or digit",
        )
    return value


def canonical_endpoint(url: str, field: str = "endpointUrl") -> str:
    """scheme://host[:port] in lower case, the scheme's default port left out; InvalidTarget
    for anything that is not the base URL of a store."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidTarget(field, f"is not a valid URL: {exc}") from None
    if parts.scheme not in ("https", "http"):
        raise InvalidTarget(field, "must be an https URL")
    if not parts.hostname:
        raise InvalidTarget(field, "has no host")
    if parts.username is not None or parts.password is not None:
        raise InvalidTarget(field, "must not carry user info (the keys have members of their own)")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise InvalidTarget(field, "must be the store's base URL, without a path or query")
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    default_port = 443 if parts.scheme == "https" else 80
    return f"{parts.scheme}://{host}" + (f":{port}" if port not in (None, default_port) else "")


def same_store(endpoint_url: str | None, own: OwnStore | None) -> bool:
    """Whether the customer's endpoint is our own store's (both None: both AWS)."""
    if own is None:
        return False
    ours = canonical_endpoint(own.endpoint_url) if own.endpoint_url else None
    return endpoint_url == ours


def template_placeholders(template: str) -> list[str]:
    """The placeholders a key template uses; InvalidTarget("keyTemplate") for any other
    (or a format spec, conversion or a stray brace)."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise InvalidTarget("keyTemplate", f"is not a valid template: {exc}") from None
    used = []
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in PLACEHOLDERS or spec or conversion:
            allowed = ", ".join(f"{{{placeholder}}}" for placeholder in PLACEHOLDERS)
            raise InvalidTarget("keyTemplate", f"may use only {allowed}, not {{{name}}}")
        used.append(name)
    return used


def key_segment(value: str) -> str:
    """A placeholder's value as one segment of a key: a definition named "a/../b" must not
    climb out of its folder, so slashes become hyphens and control characters go."""
    cleaned = "".join(
        "-" if character in "/\\" else character
        for character in value
        if ord(character) >= 0x20 and ord(character) != 0x7F
    )
    return "_" if cleaned in ("", ".", "..") else cleaned


def key_problem(key: str) -> str | None:
    """Why a key is not safe to write, or None: no leading slash, no empty, `.` or `..`
    segments (tools that sync a bucket to disk would follow them), at most 1024 bytes."""
    if not key:
        return "the key is empty"
    if key.startswith("/"):
        return "the key must not start with /"
    if any(segment in ("", ".", "..") for segment in key.split("/")):
        return "the key must not have empty, . or .. segments"
    if len(key.encode()) > MAX_KEY_BYTES:
        return f"the key is longer than {MAX_KEY_BYTES} bytes"
    return None


def render_key(prefix: str, template: str, values: Mapping[str, str]) -> str:
    rendered = template.format_map({name: key_segment(values[name]) for name in PLACEHOLDERS})
    return f"{prefix}/{rendered}" if prefix else rendered


def canonical_prefix(value: str) -> str:
    """A folder in the bucket, kept without slashes at its ends ("" is the bucket's root)."""
    prefix = value.strip("/")
    if prefix and (problem := key_problem(prefix)):
        raise InvalidTarget("prefix", problem.replace("the key", "the prefix"))
    return prefix


def delivered_key(target: Mapping[str, Any], delivered: DeliveredFile) -> str:
    values = {
        "definitionName": delivered.definition_name,
        "scheduledDate": delivered.scheduled_date,
        "fileName": delivered.file_name,
    }
    key = render_key(target["prefix"], target["keyTemplate"], values)
    if problem := key_problem(key):
        raise PermanentDeliveryFailure(f"cannot write {key!r}: {problem}")
    return key


def copy_ranges(size: int, part_bytes: int) -> list[str]:
    """The CopySourceRange of each part of a multipart copy of `size` bytes."""
    return [
        f"bytes={start}-{min(start + part_bytes, size) - 1}" for start in range(0, size, part_bytes)
    ]


def copy_part_bytes(size: int, preferred: int) -> int:
    """Parts of `preferred` bytes, larger when S3's 10,000 parts would not hold the file."""
    return max(preferred, math.ceil(size / 10_000))


def stream_part_bytes(size: int) -> int:
    """8 MiB parts, larger when 10,000 of them would not hold the file (the stream cannot
    tell the uploader its length)."""
    return max(8 * MiB, math.ceil(size / 9_000))


def error_code(exc: botocore.exceptions.ClientError) -> tuple[str, int]:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return code, status


def is_transient(code: str, status: int) -> bool:
    return code in _TRANSIENT_CODES or status >= 500 or status == 429


def access_denied(code: str, status: int) -> bool:
    # A HEAD answers 403 without a body, so without a code.
    return code == "AccessDenied" or status == 403


def field_at_fault(code: str, status: int) -> str:
    """The member a refusal at save most likely points at."""
    if code == "NoSuchBucket" or status == 404:
        return "bucket"
    if code == "SignatureDoesNotMatch":
        return "secretAccessKey"
    if code in _CREDENTIAL_CODES or status == 403:
        return "accessKeyId"
    if code in _REGION_CODES or status == 301:
        return "region"
    if is_transient(code, status):
        return "endpointUrl"
    return "bucket"


def failure(exc: Exception) -> DeliveryFailed:
    """What a failed request means for the delivery, with a readable lastError."""
    if isinstance(exc, (*_UNREACHABLE, StorageUnavailable)):
        return TransientDeliveryFailure(f"the store could not be reached: {exc}")
    if isinstance(exc, botocore.exceptions.ClientError):
        code, status = error_code(exc)
        if is_transient(code, status):
            return TransientDeliveryFailure(f"the store is busy or unavailable: {exc}")
        return PermanentDeliveryFailure(f"the store refused the file: {exc}")
    return PermanentDeliveryFailure(f"the file could not be sent: {exc}")


# ---------------------------------------------------------------------------------------
# The kind


@dataclass(frozen=True)
class S3Kind:
    name = "s3"
    secret_fields = frozenset({"secretAccessKey"})
    admin_only = True

    # Our own store, when known (for_settings): files bound for it are copied server-side,
    # and it may be reached over http as Reportbox itself does.
    own_store: OwnStore | None = None
    # http endpoints anywhere: development and tests only (keys are signed, bytes are not
    # encrypted).
    allow_http: bool = False
    copy_limit_bytes: int = 5 * GiB  # CopyObject's limit; above it, UploadPartCopy
    copy_part_bytes: int = 512 * MiB
    identity_names = "endpoint, bucket and access key"

    def identity(self, target: Mapping[str, Any]) -> tuple[Any, ...]:
        # The secret belongs to the access key at that store; region, prefix and key
        # template only say where in the bucket, so they may change under a kept secret.
        endpoint_url = fields.optional_text(target, "endpointUrl", max_length=2048)
        return (
            canonical_endpoint(endpoint_url) if endpoint_url is not None else None,
            bucket_name(fields.text(target, "bucket", max_length=63)),
            fields.text(target, "accessKeyId", max_length=128),
        )

    def validate(self, target: Mapping[str, Any]) -> dict[str, Any]:
        fields.refuse_unknown(
            target,
            (
                "bucket",
                "prefix",
                "endpointUrl",
                "region",
                "accessKeyId",
                "secretAccessKey",
                "keyTemplate",
            ),
        )
        endpoint_url = fields.optional_text(target, "endpointUrl", max_length=2048)
        if endpoint_url is not None:
            endpoint_url = canonical_endpoint(endpoint_url)
            plain = endpoint_url.startswith("http:")
            if plain and not (self.allow_http or same_store(endpoint_url, self.own_store)):
                raise InvalidTarget("endpointUrl", "must be an https URL")
        region = fields.text(target, "region", max_length=32, default="us-east-1")
        if not _REGION.fullmatch(region):
            raise InvalidTarget("region", "must be a region name such as eu-west-1")
        prefix = canonical_prefix(
            fields.text(target, "prefix", max_length=512, default="", allow_empty=True)
        )
        template = fields.text(target, "keyTemplate", max_length=512, default=DEFAULT_KEY_TEMPLATE)
        template_placeholders(template)
        if problem := key_problem(render_key(prefix, template, _SAMPLE)):
            raise InvalidTarget("keyTemplate", problem.replace("the key", "a key it makes"))
        return {
            "kind": self.name,
            "bucket": bucket_name(fields.text(target, "bucket", max_length=63)),
            "prefix": prefix,
            "endpointUrl": endpoint_url,
            "region": region,
            "accessKeyId": fields.text(target, "accessKeyId", max_length=128),
            "secretAccessKey": fields.text(target, "secretAccessKey", max_length=128),
            "keyTemplate": template,
        }

    def prove(self, target: Mapping[str, Any]) -> None:
        target = self.validate(target)
        # One attempt: the author is waiting on the answer, and may save again.
        client = _client(target, max_attempts=1)
        name = f".reportbox-check-{uuid.uuid4().hex}"
        key = f"{target['prefix']}/{name}" if target["prefix"] else name
        try:
            try:
                client.head_bucket(Bucket=target["bucket"])
            except botocore.exceptions.ClientError as exc:
                # A missing bucket is told apart first: some stores answer a write to one
                # with AccessDenied (or, for an admin, create it). Keys that may write but
                # not list get a 403 here, which the write itself then settles.
                if not access_denied(*error_code(exc)):
                    raise
            client.put_object(Bucket=target["bucket"], Key=key, Body=b"reportbox delivery check")
        except botocore.exceptions.ClientError as exc:
            code, status = error_code(exc)
            raise InvalidTarget(
                field_at_fault(code, status), f"cannot write to the bucket: {exc}"
            ) from None
        except _UNREACHABLE as exc:
            raise InvalidTarget("endpointUrl", f"the store could not be reached: {exc}") from None
        except botocore.exceptions.BotoCoreError as exc:
            raise InvalidTarget("endpointUrl", f"cannot write to the bucket: {exc}") from None
        try:
            client.delete_object(Bucket=target["bucket"], Key=key)
        except _BOTO_ERRORS:
            # Deliveries need only PutObject: keys that may not delete are not refused for it
            # (the check object stays, named as ours).
            pass

    def send(self, target: Mapping[str, Any], delivered: DeliveredFile) -> None:
        try:
            target = self.validate(target)
        except InvalidTarget as exc:
            raise PermanentDeliveryFailure(f"{exc.field}: {exc.message}") from None
        key = delivered_key(target, delivered)
        client = _client(target, max_attempts=3)
        try:
            if same_store(target["endpointUrl"], self.own_store):
                try:
                    self._copy(client, target["bucket"], key, delivered)
                    return
                except botocore.exceptions.ClientError as exc:
                    if not access_denied(*error_code(exc)):
                        raise
            _stream(client, target["bucket"], key, delivered)
        except (*_BOTO_ERRORS, StorageUnavailable) as exc:
            raise failure(exc) from exc

    def _copy(self, client: Any, bucket: str, key: str, delivered: DeliveredFile) -> None:
        source = {"Bucket": delivered.bucket, "Key": delivered.object_key}
        if delivered.size_bytes <= self.copy_limit_bytes:
            client.copy_object(
                CopySource=source,
                Bucket=bucket,
                Key=key,
                MetadataDirective="REPLACE",
                **_described(delivered),
            )
            return
        upload_id = client.create_multipart_upload(Bucket=bucket, Key=key, **_described(delivered))[
            "UploadId"
        ]
        try:
            parts = []
            part_bytes = copy_part_bytes(delivered.size_bytes, self.copy_part_bytes)
            for number, byte_range in enumerate(copy_ranges(delivered.size_bytes, part_bytes), 1):
                answer = client.upload_part_copy(
                    Bucket=bucket,
                    Key=key,
                    UploadId=upload_id,
                    PartNumber=number,
                    CopySource=source,
                    CopySourceRange=byte_range,
                )
                parts.append({"PartNumber": number, "ETag": answer["CopyPartResult"]["ETag"]})
            client.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            try:
                client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
            except _BOTO_ERRORS:
                pass  # the customer's lifecycle rules, if any, remove what this could not
            raise


def _described(delivered: DeliveredFile) -> dict[str, Any]:
    """The object's content type and the report's sha256 (x-amz-meta-sha256)."""
    return {"ContentType": delivered.content_type, "Metadata": {"sha256": delivered.sha256}}


def _stream(client: Any, bucket: str, key: str, delivered: DeliveredFile) -> None:
    part_bytes = stream_part_bytes(delivered.size_bytes)
    # No threads: one part in memory at a time, and the dispatcher's threads are the
    # concurrency.
    config = TransferConfig(
        multipart_threshold=part_bytes,
        multipart_chunksize=part_bytes,
        use_threads=False,
        preferred_transfer_client="classic",
    )
    with delivered.open() as stream:
        client.upload_fileobj(stream, bucket, key, ExtraArgs=_described(delivered), Config=config)


def _client(target: Mapping[str, Any], max_attempts: int) -> Any:
    return make_client(
        target["endpointUrl"],
        target["region"],
        target["accessKeyId"],
        target["secretAccessKey"],
        max_attempts=max_attempts,
    )


def for_settings(settings: Settings) -> S3Kind:
    """The kind as a deployment runs it: knowing its own store (server-side copies, and http
    to it when that is how Reportbox reaches it)."""
    return replace(KIND, own_store=OwnStore(settings.s3_endpoint_url))


KIND = S3Kind()

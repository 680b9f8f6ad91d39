"""What every delivery kind (email, s3, sftp) provides, and the errors it may raise.

A kind is one module with one edge to its outside system (smtplib, boto3, the SSH library);
the dispatcher and the API know kinds only through this interface, so adding a kind is one
module and one line in KINDS.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO, Protocol


class DeliveryFailed(Exception):
    """An attempt that did not deliver; `message` is the readable lastError."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TransientDeliveryFailure(DeliveryFailed):
    """Worth another attempt on the backoff: refused connection, timeout, 4xx SMTP, throttling."""


class PermanentDeliveryFailure(DeliveryFailed):
    """Fails the target at once: authentication refused, host key mismatch, recipient refused,
    a bucket that no longer exists."""


class InvalidTarget(ValueError):
    """A target that cannot be saved: `field` names the member at fault (e.g. `bucket`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class DeliveredFile:
    """The run's file as a delivery sees it; `open()` streams it from storage, never whole."""

    report_id: str
    definition_id: str
    definition_name: str
    file_name: str
    content_type: str
    size_bytes: int
    rows: int
    sha256: str
    scheduled_date: str  # the run's day in the definition's zone (YYYY-MM-DD)
    period: str | None  # e.g. "2026-11-30 to 2026-12-06", for the message text
    report_url: str  # the report in the web page
    object_key: str
    bucket: str
    completed_at: datetime
    open: Callable[[], AbstractContextManager[BinaryIO]]


class Kind(Protocol):
    """One delivery kind."""

    name: str
    # Members that are write-only: stored encrypted, never returned, never logged.
    secret_fields: frozenset[str]
    admin_only: bool
    # What the members identity() reads are called, for a message ("bucket and access key").
    identity_names: str

    def identity(self, target: Mapping[str, Any]) -> tuple[Any, ...]:
        """Where the target delivers, as its canonical members (never a secret): a secret
        sent back masked is kept only from a stored target with the same identity.
        InvalidTarget when one of them is malformed (no I/O)."""
        ...

    def validate(self, target: Mapping[str, Any]) -> dict[str, Any]:
        """The target's canonical form, or InvalidTarget naming the field (no I/O)."""
        ...

    def prove(self, target: Mapping[str, Any]) -> None:
        """Show at save that the target works (a check object, a login), or InvalidTarget."""
        ...

    def send(self, target: Mapping[str, Any], delivered: DeliveredFile) -> None:
        """Deliver once; raises TransientDeliveryFailure or PermanentDeliveryFailure."""
        ...


def chunks(stream: BinaryIO, size: int = 1024 * 1024) -> Iterator[bytes]:
    while block := stream.read(size):
        yield block

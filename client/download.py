"""Writing a download to disk so that a file at the target path is always the whole, right file."""

from __future__ import annotations

import contextlib
import hashlib
import mimetypes
import os
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from email.message import Message
from pathlib import Path

from client.errors import ChecksumMismatch
from client.models import ReportFile

CHUNK_BYTES = 1024 * 1024
# The temporary file adds ".", "." + 12 hex digits and ".part" to the name: 255 bytes, the
# usual limit of one path component, less that, less some room.
MAX_FILE_NAME_BYTES = 200
# What a fallback name may take from the server's answer: letters, digits and inner dashes
# or dots only, so that the fallback itself can never be a path.
SAFE_PART = re.compile(r"[A-Za-z0-9]+(?:[.-][A-Za-z0-9]+)*")


def is_plain_file_name(name: str) -> bool:
    """True if `name` names a file inside a directory and can reach nothing outside it.

    The name comes from the server's answer: no separator of any system, no `.` or `..`,
    no control character (which could also rewrite a terminal that prints it), not empty,
    not longer than a file system takes.
    """
    return (
        name not in ("", ".", "..")
        and "/" not in name
        and "\\" not in name
        and not any(is_control_character(character) for character in name)
        and len(name.encode("utf-8", "surrogatepass")) <= MAX_FILE_NAME_BYTES
    )


def is_control_character(character: str) -> bool:
    """C0, DEL and C1: none has a place in a file name."""
    code = ord(character)
    return code < 0x20 or 0x7F <= code <= 0x9F


def safe_file_name(name: str, report_id: str, extension: str) -> str:
    """The server's file name if it is plain, else `report-{report_id}.{extension}`."""
    if is_plain_file_name(name):
        return name
    report_part = report_id if SAFE_PART.fullmatch(report_id) else "unknown"
    extension_part = extension if SAFE_PART.fullmatch(extension) else "bin"
    return f"report-{report_part}.{extension_part}"[:MAX_FILE_NAME_BYTES]


def target_path(
    path: str | os.PathLike[str], file: ReportFile, report_id: str, extension: str
) -> Path:
    """The path to write: `path` itself, or the report's file name inside a directory.

    Inside a directory the name is the server's only when it is a plain file name (see
    safe_file_name): whatever the server answers, nothing is written outside `path`.
    """
    target = Path(path)
    if not target.is_dir():
        return target
    return target / safe_file_name(file.name, report_id, extension)


def content_target(
    path: str | os.PathLike[str], headers: Mapping[str, str], definition_id: str
) -> Path:
    """Where a synchronous definition's file goes: `path`, or inside it if it is a directory.

    Inside a directory the name is the Content-Disposition's file name when it is plain (see
    safe_file_name), else `report-{definition_id}` with the content type's extension.
    """
    target = Path(path)
    if not target.is_dir():
        return target
    message = Message()
    message["content-disposition"] = headers.get("content-disposition", "")
    name = message.get_filename() or ""
    content_type = headers.get("content-type", "").partition(";")[0].strip()
    extension = (mimetypes.guess_extension(content_type) or ".bin").lstrip(".")
    return target / safe_file_name(name, definition_id, extension)


def save_verified(chunks: Iterable[bytes], path: Path, expected: ReportFile) -> Path:
    """Stream `chunks` into `path` as save_atomically does, kept only if size and sha256 match
    what the API reported for the file."""

    def check(size: int, sha256: str) -> None:
        if size != expected.size_bytes or sha256 != expected.sha256:
            raise ChecksumMismatch(
                f"the download of {expected.name} does not match the report: got {size} bytes "
                f"with sha256 {sha256}, expected {expected.size_bytes} bytes "
                f"with sha256 {expected.sha256}; nothing was saved"
            )

    return save_atomically(chunks, path, check)


def save_atomically(
    chunks: Iterable[bytes], path: Path, check: Callable[[int, str], None] | None = None
) -> Path:
    """Stream `chunks` into a temporary file beside `path`, check it, then rename it.

    `check(size, sha256)` raises to refuse the bytes. The rename happens only after it, so a
    reader of `path` never sees a partial or refused file, and a failure leaves nothing
    behind (an existing file at `path` stays as it was).
    """
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.part")
    # O_EXCL: never write into someone else's file; mode 0o666 less the umask, as any new file.
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        digest = hashlib.sha256()
        size = 0
        with os.fdopen(descriptor, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
                digest.update(chunk)
                size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        if check is not None:
            check(size, digest.hexdigest())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return path

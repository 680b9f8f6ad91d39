"""Writing a download to disk so that a file at the target path is always the whole, right file."""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from collections.abc import Iterable
from pathlib import Path

from client.errors import ChecksumMismatch
from client.models import ReportFile

CHUNK_BYTES = 1024 * 1024


def target_path(path: str | os.PathLike[str], file: ReportFile) -> Path:
    """The path to write: `path` itself, or the report's file name inside a directory."""
    target = Path(path)
    return target / file.name if target.is_dir() else target


def save_verified(chunks: Iterable[bytes], path: Path, expected: ReportFile) -> Path:
    """Stream `chunks` into a temporary file beside `path`, check it, then rename it.

    The rename happens only once size and sha256 match what the API reported, so a reader
    of `path` never sees a partial or corrupt file, and a mismatch leaves nothing behind
    (an existing file at `path` stays as it was).
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
        if size != expected.size_bytes or digest.hexdigest() != expected.sha256:
            raise ChecksumMismatch(
                f"the download of {expected.name} does not match the report: got {size} bytes "
                f"with sha256 {digest.hexdigest()}, expected {expected.size_bytes} bytes "
                f"with sha256 {expected.sha256}; nothing was saved"
            )
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return path

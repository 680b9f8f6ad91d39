"""The end-of-run audit of the promise "every 202 ends in a terminal status, exactly once".

Reusable by any test or soak run: give it the database, the bucket's keys, a way to read an
object, the ids that got a 202 and the workers' logs; it returns the figures, and all but
`accepted`, `completed` and `failed` must be zero.
"""

from __future__ import annotations

import collections
import hashlib
import logging
import re
import uuid
from collections.abc import Callable, Collection, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

TERMINAL = frozenset({"Completed", "Failed", "Cancelled", "Expired"})
COMPLETED_LINE = re.compile(r"export\.completed report_id=([0-9a-f-]{36})")

STATUSES = text("SELECT id, status FROM reports WHERE id = ANY(:ids)")
# Unpublished outbox rows of these reports: a message the relay never got out.
UNPUBLISHED = text(
    """
    SELECT count(*) FROM outbox
    WHERE published_at IS NULL
      AND convert_from(body, 'UTF8')::jsonb ->> 'reportId' = ANY(:ids)
    """
)
# The file each Completed report names, and what its row says about it.
COMPLETED_FILES = text(
    """
    SELECT id, object_key, size_bytes, sha256 FROM reports
    WHERE status = 'Completed' AND id = ANY(:ids)
    """
)


@dataclass(frozen=True)
class Figures:
    accepted: int  # answered 202
    completed: int
    failed: int
    lost: int  # answered 202 but not in a terminal status
    duplicated: int  # reports marked Completed more than once
    unexpected: int  # objects of these reports that no Completed report names
    missing: int  # Completed reports whose object is not in the bucket
    corrupt: int  # Completed reports whose object's bytes differ from its size or sha256
    stuck: int  # outbox rows of these reports never published

    @property
    def ok(self) -> bool:
        return not (
            self.lost
            or self.duplicated
            or self.unexpected
            or self.missing
            or self.corrupt
            or self.stuck
        )

    def __str__(self) -> str:
        return " ".join(f"{name}={value}" for name, value in asdict(self).items())


def report_id_of(key: str) -> uuid.UUID | None:
    """The report an object key belongs to: the path segment that is a report id."""
    for segment in key.split("/"):
        try:
            return uuid.UUID(segment.partition(".")[0])
        except ValueError:
            continue
    return None


def completions(worker_logs: Iterable[Path]) -> collections.Counter[uuid.UUID]:
    """How often each report was marked Completed, by the workers' own log lines."""
    counts: collections.Counter[uuid.UUID] = collections.Counter()
    for path in worker_logs:
        for match in COMPLETED_LINE.finditer(path.read_text(errors="replace")):
            counts[uuid.UUID(match.group(1))] += 1
    return counts


def check(
    sessions: sessionmaker[Session],
    object_keys: Iterable[str],
    accepted: Collection[uuid.UUID | str],
    worker_logs: Iterable[Path],
    read_object: Callable[[str], bytes],
) -> Figures:
    """read_object(key) gives an object's bytes: each Completed report's must match its row."""
    ids = [uuid.UUID(str(report_id)) for report_id in accepted]
    wanted = set(ids)
    keys = {key for key in object_keys if report_id_of(key) in wanted}
    with sessions() as session:
        statuses = {row.id: row.status for row in session.execute(STATUSES, {"ids": ids})}
        stuck = session.execute(UNPUBLISHED, {"ids": [str(i) for i in ids]}).scalar_one()
        files = session.execute(COMPLETED_FILES, {"ids": ids}).all()
    done = completions(worker_logs)
    named = {row.object_key for row in files}
    present = [row for row in files if row.object_key in keys]
    figures = Figures(
        accepted=len(ids),
        completed=len(files),
        failed=sum(1 for report_id in ids if statuses.get(report_id) == "Failed"),
        lost=sum(1 for report_id in ids if statuses.get(report_id) not in TERMINAL),
        duplicated=sum(1 for report_id in ids if done[report_id] > 1),
        unexpected=len(keys - named),
        missing=len(files) - len(present),
        corrupt=0
        if read_object is None
        else sum(1 for row in present if _differs(row, read_object)),
        stuck=stuck,
    )
    log.info("checker %s", figures)
    return figures


def _differs(row, read_object: Callable[[str], bytes]) -> bool:
    body = read_object(row.object_key)
    return len(body) != row.size_bytes or hashlib.sha256(body).hexdigest() != row.sha256

"""The end-of-run audit of the promise "every 202 ends in a terminal status, exactly once".

Reusable by any test or soak run: give it the database, the bucket's keys, the ids that
got a 202 and the workers' logs; it returns the figures, and all but `accepted`,
`completed` and `failed` must be zero.
"""

from __future__ import annotations

import collections
import logging
import re
import uuid
from collections.abc import Collection, Iterable
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
COMPLETED_AMONG = text("SELECT id FROM reports WHERE status = 'Completed' AND id = ANY(:ids)")


@dataclass(frozen=True)
class Figures:
    accepted: int  # answered 202
    completed: int
    failed: int
    lost: int  # answered 202 but not in a terminal status
    duplicated: int  # reports with more than one object or more than one completion
    unexpected: int  # objects that belong to no Completed report
    missing: int  # Completed reports whose object is not in the bucket
    stuck: int  # outbox rows of these reports never published

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.unexpected or self.missing or self.stuck)

    def __str__(self) -> str:
        return " ".join(f"{name}={value}" for name, value in asdict(self).items())


def report_id_of(key: str) -> uuid.UUID | None:
    """The report an object key belongs to: `<org>/<report id>.<extension>`."""
    try:
        return uuid.UUID(key.rpartition("/")[2].partition(".")[0])
    except ValueError:
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
    worker_logs: Iterable[Path] = (),
) -> Figures:
    ids = [uuid.UUID(str(report_id)) for report_id in accepted]
    keys = list(object_keys)
    objects_per_report = collections.Counter(report_id_of(key) for key in keys)
    owners = [report_id for report_id in objects_per_report if report_id is not None]
    with sessions() as session:
        statuses = {row.id: row.status for row in session.execute(STATUSES, {"ids": ids})}
        stuck = session.execute(UNPUBLISHED, {"ids": [str(i) for i in ids]}).scalar_one()
        completed_owners = set(session.execute(COMPLETED_AMONG, {"ids": owners}).scalars())
    done = completions(worker_logs)
    completed = {report_id for report_id in ids if statuses.get(report_id) == "Completed"}
    figures = Figures(
        accepted=len(ids),
        completed=len(completed),
        failed=sum(1 for report_id in ids if statuses.get(report_id) == "Failed"),
        lost=sum(1 for report_id in ids if statuses.get(report_id) not in TERMINAL),
        duplicated=sum(
            1 for report_id in ids if objects_per_report[report_id] > 1 or done[report_id] > 1
        ),
        unexpected=sum(
            count
            for report_id, count in objects_per_report.items()
            if report_id not in completed_owners
        ),
        missing=sum(1 for report_id in completed if objects_per_report[report_id] == 0),
        stuck=stuck,
    )
    log.info("checker %s", figures)
    return figures

"""Every statement that changes a report's status: the one home of the state machine that runs.

Each transition is one conditional UPDATE, so concurrent workers, redeliveries, cancels and
sweepers are decided by PostgreSQL, never by a read-then-write. The statuses in each statement
come from its declared moves, and a unit test checks every move against
`shared.statuses.TRANSITIONS`: changing the table without the statements (or the reverse)
fails that test.

Writes by a worker are fenced: they match only while `attempts` still equals the attempt
the worker claimed, because a takeover after an expired lease bumps it. `attempts` only
grows; the attempts spent against WORKER_MAX_ATTEMPTS are `attempts - hand_backs`, since a
claim handed back at shutdown (a rollout, a drain, a scale-down) is no fault of the report.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import TextClause, text

from shared.statuses import ReportStatus

PENDING = ReportStatus.PENDING
PROCESSING = ReportStatus.PROCESSING
COMPLETED = ReportStatus.COMPLETED
FAILED = ReportStatus.FAILED
CANCELLED = ReportStatus.CANCELLED
EXPIRED = ReportStatus.EXPIRED


@dataclass(frozen=True)
class Transition:
    """A named statement and the (from, to) status moves it can make."""

    name: str
    moves: frozenset[tuple[ReportStatus, ReportStatus]]
    statement: TextClause

    @property
    def sql(self) -> str:
        return self.statement.text


def transition(name: str, moves: set[tuple[ReportStatus, ReportStatus]], sql: str) -> Transition:
    """The SQL names statuses as {Pending}, {Processing}...; they become quoted literals."""
    literals = {status.value: f"'{status.value}'" for status in ReportStatus}
    return Transition(name, frozenset(moves), text(sql.format(**literals)))


# A report nobody holds: Pending, or Processing under a lease that ran out (its worker died).
_CLAIMABLE = """
      (status = {Pending} OR (status = {Processing} AND lease_expires_at < now()))"""

# claim_report: two deliveries of the same message race here and exactly one UPDATE matches;
# the new attempts is the fencing token that later writes must present. taken_over: the
# report was Processing under a dead lease (`before` reads the row as the statement found
# it). A report that has spent all its attempts is not claimed: GIVE_UP ends it instead, so
# no path of faults cycles forever (only shutdowns hand a report back uncharged).
CLAIM = transition(
    "claim",
    {(PENDING, PROCESSING), (PROCESSING, PROCESSING)},
    """
    UPDATE reports
    SET status = {Processing},
        started_at = coalesce(started_at, now()),
        lease_expires_at = now() + make_interval(secs => :lease_seconds),
        attempts = attempts + 1,
        rows_processed = 0
    FROM (SELECT status AS status_before FROM reports WHERE id = :report_id) AS before
    WHERE id = :report_id AND attempts - hand_backs < :max_attempts AND"""
    + _CLAIMABLE
    + """
    RETURNING id, org, report_type, format, parameters, attempts, cancel_requested,
              attempts - hand_backs AS spent, status_before = {Processing} AS taken_over
    """,
)

# give_up: the claim's counterpart for a report whose attempts are spent (each one crashed,
# met a transient fault, or was taken over). Matches only what CLAIM refuses for that reason.
GIVE_UP = transition(
    "give_up",
    {(PENDING, FAILED), (PROCESSING, FAILED)},
    """
    UPDATE reports
    SET status = {Failed}, completed_at = now(), lease_expires_at = NULL,
        error_code = :code, error_message = :message
    WHERE id = :report_id AND attempts - hand_backs >= :max_attempts AND"""
    + _CLAIMABLE
    + """
    RETURNING attempts - hand_backs AS spent, report_type
    """,
)

# complete vs cancel: the API's cancel sets cancel_requested only while the report is active,
# and COMPLETE refuses once it is set, so exactly one of the two wins. The object key is the
# attempt's own, so a stale attempt's file can never be the one recorded here.
COMPLETE = transition(
    "complete",
    {(PROCESSING, COMPLETED)},
    """
    UPDATE reports
    SET status = {Completed}, completed_at = now(), lease_expires_at = NULL,
        object_key = :object_key, file_name = :file_name, content_type = :content_type,
        size_bytes = :size_bytes, row_count = :row_count, rows_processed = :row_count,
        rows_total = :row_count, sha256 = :sha256,
        expires_at = now() + make_interval(secs => :retention_seconds)
    WHERE id = :report_id AND status = {Processing} AND attempts = :attempt
      AND NOT cancel_requested
    """,
)

# The worker stopped because the client asked it to.
CANCEL_RUNNING = transition(
    "cancel_running",
    {(PROCESSING, CANCELLED)},
    """
    UPDATE reports
    SET status = {Cancelled}, completed_at = now(), lease_expires_at = NULL
    WHERE id = :report_id AND status = {Processing} AND attempts = :attempt AND cancel_requested
    """,
)

FAIL = transition(
    "fail",
    {(PROCESSING, FAILED)},
    """
    UPDATE reports
    SET status = {Failed}, completed_at = now(), lease_expires_at = NULL,
        error_code = :code, error_message = :message
    WHERE id = :report_id AND status = {Processing} AND attempts = :attempt
    """,
)

# Hands a report back after a transient fault, so the next delivery can claim it at once
# instead of waiting for the lease to run out. The attempt stays spent.
RELEASE = transition(
    "release",
    {(PROCESSING, PENDING)},
    """
    UPDATE reports SET status = {Pending}, lease_expires_at = NULL
    WHERE id = :report_id AND status = {Processing} AND attempts = :attempt
    """,
)

# The same at shutdown, and the attempt is not spent: the report did nothing wrong. A worker
# that dies instead (SIGKILL, a lost node) never gets here; the takeover after its lease
# ran out is charged.
HAND_BACK = transition(
    "hand_back",
    {(PROCESSING, PENDING)},
    """
    UPDATE reports SET status = {Pending}, lease_expires_at = NULL, hand_backs = hand_backs + 1
    WHERE id = :report_id AND status = {Processing} AND attempts = :attempt
    """,
)

# The client's cancel: a Pending report is Cancelled at once; a Processing one is flagged
# and stays Processing until its worker stops (CANCEL_RUNNING). Matches only active reports.
REQUEST_CANCEL = transition(
    "request_cancel",
    {(PENDING, CANCELLED), (PROCESSING, PROCESSING)},
    """
    UPDATE reports
    SET cancel_requested = true,
        status = CASE WHEN status = {Pending} THEN {Cancelled} ELSE status END,
        completed_at = CASE WHEN status = {Pending} THEN now() ELSE completed_at END
    WHERE id = :report_id AND status IN ({Pending}, {Processing})
    RETURNING id, status, report_type
    """,
)

# claim_expired and expire: Completed reports past their retention. The sweeper deletes each
# file between the two, outside any transaction; EXPIRE re-checks the status, so a report
# expires only from Completed.
EXPIRE = transition(
    "expire",
    {(COMPLETED, EXPIRED)},
    """
    UPDATE reports SET status = {Expired}
    WHERE id = ANY(:ids) AND status = {Completed}
    RETURNING id, report_type
    """,
)

ALL = (
    CLAIM,
    GIVE_UP,
    COMPLETE,
    CANCEL_RUNNING,
    FAIL,
    RELEASE,
    HAND_BACK,
    REQUEST_CANCEL,
    EXPIRE,
)

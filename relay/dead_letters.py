"""python -m relay.dead_letters list | show ID | replay (--all | ID ...) | drop-terminal

What the dead-letter queue holds, with the reason and the report each message names, and a
replay that goes through the outbox, so that a replayed request is as durable as a new one:
the outbox row is committed before the dead letter is removed. A report that is already
terminal (Completed, Failed, Cancelled, Expired) is never replayed; its message stays until
drop-terminal removes it. Every command walks the whole queue a page at a time (see
shared/broker/dead_letters.py). An ID is a message id or a report id.
Exit codes: 0 done, 1 nothing matched, 2 usage.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from relay.stuck import ENQUEUE, outbox_values
from shared.broker import DeadLetter, DeadLetterQueue
from shared.broker.dead_letters import PAGE_SIZE
from shared.config import settings_or_exit
from shared.db import make_engine, make_session_factory, translate_errors
from shared.messages import ReportRequested, UndecodableMessage
from shared.statuses import ReportStatus

STATUSES = text("SELECT id, status FROM reports WHERE id = ANY(:ids)")


def report_id_of(letter: DeadLetter) -> uuid.UUID | None:
    try:
        return ReportRequested.decode(letter.body).report_id
    except UndecodableMessage:
        return None


def refusal(report_id: uuid.UUID | None, status: ReportStatus | None) -> str | None:
    """Why a dead letter cannot be replayed, or None when it can."""
    if report_id is None:
        return "the message does not decode: it names no report"
    if status is None:
        return "its report does not exist"
    if status.is_terminal:
        return f"its report is already {status}"
    return None


def describe(letter: DeadLetter, status: ReportStatus | None) -> dict[str, Any]:
    report_id = report_id_of(letter)
    return {
        "messageId": letter.message_id,
        "reportId": None if report_id is None else str(report_id),
        "reportStatus": status,
        "reason": letter.reason,
        "queue": letter.queue,
        "diedAt": None if letter.died_at is None else letter.died_at.isoformat(),
        "deaths": letter.deaths,
        "replayable": refusal(report_id, status) is None,
    }


def matches(letter: DeadLetter, wanted: set[str]) -> bool:
    report_id = report_id_of(letter)
    return letter.message_id in wanted or (report_id is not None and str(report_id) in wanted)


class DeadLetters:
    """The queue's letters, page by page, each with its report's status."""

    def __init__(
        self, queue: DeadLetterQueue, sessions: sessionmaker[Session], page_size: int = PAGE_SIZE
    ) -> None:
        self._queue = queue
        self._sessions = sessions
        self._page_size = page_size

    def pages(self) -> Iterator[list[tuple[DeadLetter, ReportStatus | None]]]:
        """Each letter with its report's status (None: no such report); the letters of a
        page are held while the caller looks at them, and settled through replay()/drop()."""
        for page in self._queue.pages(self._page_size):
            ids = [rid for rid in map(report_id_of, page) if rid is not None]
            with translate_errors(), self._sessions() as session:
                rows = session.execute(STATUSES, {"ids": ids}).all() if ids else []
            statuses: dict[uuid.UUID | None, ReportStatus] = {
                row.id: ReportStatus(row.status) for row in rows
            }
            yield [(letter, statuses.get(report_id_of(letter))) for letter in page]

    def replay(self, letter: DeadLetter, status: ReportStatus | None) -> str | None:
        """Replay one; the reason it was not replayed, or None."""
        report_id = report_id_of(letter)
        reason = refusal(report_id, status)
        if reason is not None or report_id is None:  # refusal() names a letter without one
            return reason
        with translate_errors(), self._sessions.begin() as session:
            session.execute(ENQUEUE, outbox_values(ReportRequested.new(report_id)))
        self._queue.ack(letter)  # after the commit: a crash in between only replays twice
        return None

    def drop_if_terminal(self, letter: DeadLetter, status: ReportStatus | None) -> bool:
        """Remove a letter whose report is finished: nothing is left for it to do."""
        if status is None or not status.is_terminal:
            return False
        self._queue.ack(letter)
        return True


def main(argv: Sequence[str] | None = None, page_size: int = PAGE_SIZE) -> int:
    parser = argparse.ArgumentParser(prog="python -m relay.dead_letters", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="every dead letter, one line each")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    show = commands.add_parser("show", help="one dead letter in full, body included")
    show.add_argument("id", help="a message id or a report id")
    replay = commands.add_parser("replay", help="send again through the outbox")
    chosen = replay.add_mutually_exclusive_group(required=True)
    chosen.add_argument("--all", action="store_true", help="every replayable dead letter")
    chosen.add_argument("ids", nargs="*", default=[], metavar="ID")
    commands.add_parser("drop-terminal", help="remove the letters whose report is already terminal")
    args = parser.parse_args(argv)

    settings = settings_or_exit()
    engine = make_engine(settings)
    try:
        with DeadLetterQueue(settings) as queue:
            letters = DeadLetters(queue, make_session_factory(engine), page_size)
            return _run(args, letters)
    finally:
        engine.dispose()


def _run(args: argparse.Namespace, letters: DeadLetters) -> int:
    """Run the command over every page; 0 when it found something to do, 1 when not."""
    command = COMMANDS[args.command]
    done = False
    for page in letters.pages():
        for letter, status in page:
            done = command(args, letters, letter, status) or done
    return 0 if done or args.command == "list" else 1


def _list(
    args: argparse.Namespace, _: DeadLetters, letter: DeadLetter, status: ReportStatus | None
) -> bool:
    entry = describe(letter, status)
    if args.json:
        print(json.dumps(entry))
    else:
        print(
            f"{entry['messageId']}  report={entry['reportId']} "
            f"({entry['reportStatus']})  reason={entry['reason']} "
            f"deaths={entry['deaths']}  replayable={'yes' if entry['replayable'] else 'no'}"
        )
    return True


def _show(
    args: argparse.Namespace, _: DeadLetters, letter: DeadLetter, status: ReportStatus | None
) -> bool:
    if not matches(letter, {args.id}):
        return False
    entry = describe(letter, status)
    entry["body"] = letter.body.decode("utf-8", "replace")
    print(json.dumps(entry, indent=2))
    return True


def _replay(
    args: argparse.Namespace, letters: DeadLetters, letter: DeadLetter, status: ReportStatus | None
) -> bool:
    if not (args.all or matches(letter, set(args.ids))):
        return False
    reason = letters.replay(letter, status)
    target = report_id_of(letter)
    if reason is None:
        print(f"replayed {letter.message_id} report={target}")
    else:
        print(f"skipped {letter.message_id} report={target}: {reason}", file=sys.stderr)
    return True


def _drop_terminal(
    _: argparse.Namespace, letters: DeadLetters, letter: DeadLetter, status: ReportStatus | None
) -> bool:
    if not letters.drop_if_terminal(letter, status):
        return False
    print(f"dropped {letter.message_id} report={report_id_of(letter)} ({status})")
    return True


COMMANDS = {"list": _list, "show": _show, "replay": _replay, "drop-terminal": _drop_terminal}


if __name__ == "__main__":
    sys.exit(main())

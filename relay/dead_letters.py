"""python -m relay.dead_letters list | show ID | replay (--all | ID ...)

What the dead-letter queue holds, with the reason and the report each message names, and a
replay that goes through the outbox, so that a replayed request is as durable as a new one:
the outbox row is committed before the dead letter is removed. A report that is already
terminal (Completed, Failed, Cancelled, Expired) is never replayed; its message stays.
An ID is a message id or a report id. Exit codes: 0 done, 1 nothing matched, 2 usage.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from relay.stuck import ENQUEUE, outbox_values
from shared.broker import DeadLetter, DeadLetterQueue
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


def refusal(report_id: uuid.UUID | None, status: str | None) -> str | None:
    """Why a dead letter cannot be replayed, or None when it can."""
    if report_id is None:
        return "the message does not decode: it names no report"
    if status is None:
        return "its report does not exist"
    if ReportStatus(status).is_terminal:
        return f"its report is already {status}"
    return None


def describe(letter: DeadLetter, status: str | None) -> dict[str, Any]:
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
    def __init__(self, queue: DeadLetterQueue, sessions: sessionmaker[Session]) -> None:
        self._queue = queue
        self._sessions = sessions
        self.letters = list(queue.messages())
        ids = [rid for rid in map(report_id_of, self.letters) if rid is not None]
        with translate_errors(), sessions() as session:
            rows = session.execute(STATUSES, {"ids": ids}).all() if ids else []
        self._statuses = {row.id: row.status for row in rows}

    def status(self, letter: DeadLetter) -> str | None:
        report_id = report_id_of(letter)
        return None if report_id is None else self._statuses.get(report_id)

    def replay(self, letter: DeadLetter) -> str | None:
        """Replay one; the reason it was not replayed, or None."""
        report_id = report_id_of(letter)
        reason = refusal(report_id, self.status(letter))
        if reason is not None:
            return reason
        with translate_errors(), self._sessions.begin() as session:
            session.execute(ENQUEUE, outbox_values(ReportRequested.new(report_id)))
        self._queue.ack(letter)  # after the commit: a crash in between only replays twice
        return None


def main(argv: Sequence[str] | None = None) -> int:
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
    args = parser.parse_args(argv)

    settings = settings_or_exit()
    engine = make_engine(settings)
    try:
        with DeadLetterQueue(settings) as queue:
            letters = DeadLetters(queue, make_session_factory(engine))
            return _run(args, letters)
    finally:
        engine.dispose()


def _run(args: argparse.Namespace, letters: DeadLetters) -> int:
    if args.command == "list":
        for letter in letters.letters:
            entry = describe(letter, letters.status(letter))
            if args.json:
                print(json.dumps(entry))
            else:
                print(
                    f"{entry['messageId']}  report={entry['reportId']} "
                    f"({entry['reportStatus']})  reason={entry['reason']} "
                    f"deaths={entry['deaths']}  replayable={'yes' if entry['replayable'] else 'no'}"
                )
        return 0
    if args.command == "show":
        found = [letter for letter in letters.letters if matches(letter, {args.id})]
        for letter in found:
            entry = describe(letter, letters.status(letter))
            entry["body"] = letter.body.decode("utf-8", "replace")
            print(json.dumps(entry, indent=2))
        return 0 if found else 1
    wanted = set(args.ids)
    selected = [letter for letter in letters.letters if args.all or matches(letter, wanted)]
    for letter in selected:
        reason = letters.replay(letter)
        target = report_id_of(letter)
        if reason is None:
            print(f"replayed {letter.message_id} report={target}")
        else:
            print(f"skipped {letter.message_id} report={target}: {reason}", file=sys.stderr)
    return 0 if selected else 1


if __name__ == "__main__":
    sys.exit(main())

"""Email deliveries: the real dispatcher (`python -m dispatcher`) mailing a definition's
runs, each with its 1 MiB file attached, to a lean SMTP sink in a process of its own
(tests/perf/smtp_sink.py, which throws every message away: aiosmtpd, make run's sink, took
a whole core for ten messages a second inside the measuring process and was the limit).

Throughput: RUNS_PER_ROUND runs of one definition (one email target, attach auto) are
completed in one transaction with their delivery rows (shared/deliveries/rows.py, as the
worker's lifecycle writes them) while the dispatcher is listening; measured from the commit
until every delivery is recorded Delivered. Its reference, alternating with it: a plain
smtplib loop in this process sending the same number of 1 MiB-attachment messages to the
same sink, as many threads as DELIVERY_CONCURRENCY. Goal: >= 50 deliveries/s.

Latency: runs completed through the worker's own Lifecycle.complete at
COMPLETIONS_PER_SECOND for LATENCY_SECONDS; each run's completed_at to its delivery's
delivered_at (both the database's clock). The same for a definition with an s3 target and
one with an sftp target (tests/perf/delivery_kinds.py), the same 1 MiB file.
"""

from __future__ import annotations

import json
import os
import smtplib
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from sqlalchemy import text

from infra.local.processes import free_port
from shared.config import Settings
from shared.db import make_engine
from shared.deliveries.rows import record_run_deliveries
from shared.storage import Storage, UploadedObject
from tests.perf import dispatch_load
from tests.perf.cpu import CpuShares, format_shares, pids_named, pids_of
from tests.perf.delivery_kinds import s3_and_sftp_targets
from tests.perf.helper_process import serving
from tests.perf.rounds import alternate, scaled, summarise
from tests.perf.stack import clear_reports, execute
from tests.perf.table import Line, ratio, verdict

ORG = "bench-mail"
FILE_BYTES = 1024 * 1024
RUNS_PER_ROUND = scaled(300, 50)
COMPLETIONS_PER_SECOND = 10
LATENCY_SECONDS = scaled(10, 4)
GOAL_PER_SECOND = 50
RECIPIENT = "ops@example.com"
TARGET = {"kind": "email", "recipients": [RECIPIENT], "subject": "{name} for {scheduledDate}"}

INSERT_DEFINITION = """
    INSERT INTO report_definitions
        (id, org, owner_id, owner_roles, name, report_type, format, parameters, deliveries,
         send_when)
    VALUES (%(id)s, %(org)s, 'bench-owner', '{analyst}', %(name)s, 'sessions', 'csv',
            '{}', %(deliveries)s, 'always')
"""
COMPLETE_ALL = text(
    """
    UPDATE reports SET status = 'Completed', completed_at = now(), object_key = :key,
                       file_name = 'report.csv', content_type = 'text/csv',
                       size_bytes = :size, row_count = 1000, sha256 = :sha256
    WHERE id = ANY(:ids)
    """
)
DELIVERED = "SELECT count(*) FROM deliveries WHERE state = 'Delivered'"
TIMES = """
    SELECT extract(epoch FROM max(d.delivered_at)),
           array_agg(extract(epoch FROM d.delivered_at - r.completed_at)),
           count(*) FILTER (WHERE d.state <> 'Delivered')
    FROM deliveries d JOIN reports r ON r.id = d.report_id
"""


def upload_file(settings: Settings) -> UploadedObject:
    """The runs' one file in S3: 1 MiB of CSV-like text."""
    line = b"2026-12-05,bench,session,1234567890\n"
    data = (line * (FILE_BYTES // len(line) + 1))[:FILE_BYTES]
    with Storage(settings).start_upload(f"bench/{uuid.uuid4()}.csv", "text/csv") as upload:
        upload.write(data)
        return upload.complete()


def clear(settings: Settings) -> None:
    clear_reports(settings)  # CASCADE: their deliveries too


def last_errors(settings: Settings) -> list[Any]:
    query = """
        SELECT state, left(last_error, 300), count(*) FROM deliveries WHERE state <> 'Delivered'
        GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 3
    """
    with dispatch_load.connect(settings) as connection:
        return [tuple(row) for row in connection.execute(query).fetchall()]


def delivered_times(settings: Settings) -> tuple[float, list[float], int]:
    with dispatch_load.connect(settings) as connection:
        last, seconds, undelivered = connection.execute(TIMES).fetchone()
    return (
        float(last or 0),
        [float(value) for value in seconds or [] if value is not None],
        undelivered,
    )


def dispatched(
    settings: Settings, definition_id: uuid.UUID, uploaded: UploadedObject, groups: dict[str, Any]
) -> dict[str, Any]:
    clear(settings)
    report_ids = dispatch_load.insert_processing(settings, ORG, RUNS_PER_ROUND, definition_id)
    engine = make_engine(settings)
    try:
        with CpuShares(groups) as cpu:
            with engine.begin() as connection:
                connection.execute(
                    COMPLETE_ALL,
                    {
                        "ids": report_ids,
                        "key": uploaded.key,
                        "size": uploaded.size_bytes,
                        "sha256": uploaded.sha256,
                    },
                )
                written = sum(record_run_deliveries(connection, rid) for rid in report_ids)
            committed = time.time()
            dispatch_load.wait_for_count(settings, DELIVERED, {}, RUNS_PER_ROUND)
    finally:
        engine.dispose()
    last, _, undelivered = delivered_times(settings)
    seconds = last - committed
    problems = []
    if written != RUNS_PER_ROUND:
        problems.append(f"{written} deliveries written for {RUNS_PER_ROUND} runs")
    if undelivered:
        problems.append(f"{undelivered} of {RUNS_PER_ROUND} deliveries not Delivered")
    return {
        "deliveries": RUNS_PER_ROUND,
        "seconds": round(seconds, 3),
        "per_second": round(RUNS_PER_ROUND / seconds, 1),
        "cpu": cpu.shares(),
        "problems": problems,
    }


def reference_message() -> bytes:
    """A message like the dispatcher's: a short text body and the 1 MiB file attached."""
    message = EmailMessage()
    message["From"] = "Reportbox <reportbox@localhost>"
    message["To"] = RECIPIENT
    message["Subject"] = "Daily sessions for 2026-12-05"
    message.set_content("Your report is attached.\n")
    line = b"2026-12-05,bench,session,1234567890\n"
    data = (line * (FILE_BYTES // len(line) + 1))[:FILE_BYTES]
    message.add_attachment(
        data, maintype="text", subtype="csv", filename="report.csv", cte="base64"
    )
    return message.as_bytes(policy=SMTP)  # CRLF line ends, as on the wire


def smtp_loop(settings: Settings, port: int, sink_pids: Any) -> dict[str, Any]:
    """The reference: smtplib sends the same number of messages, same threads, same sink."""
    remaining = iter(range(RUNS_PER_ROUND))
    take = threading.Lock()
    started = time.time()

    def send() -> None:
        body = reference_message()  # built in the thread, as each delivery builds its own
        while True:
            with take:
                if next(remaining, None) is None:
                    return
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
                client.sendmail("reportbox@localhost", [RECIPIENT], body)

    threads = settings.delivery_concurrency
    with (
        CpuShares({"bench process": lambda: [os.getpid()], "sink": sink_pids}) as cpu,
        ThreadPoolExecutor(threads) as pool,
    ):
        for future in [pool.submit(send) for _ in range(threads)]:
            future.result()
    seconds = time.time() - started
    return {
        "deliveries": RUNS_PER_ROUND,
        "seconds": round(seconds, 3),
        "per_second": round(RUNS_PER_ROUND / seconds, 1),
        "cpu": cpu.shares(),
    }


def latency(settings: Settings, definition_id: uuid.UUID, uploaded: UploadedObject) -> dict:
    clear(settings)
    count = COMPLETIONS_PER_SECOND * LATENCY_SECONDS
    report_ids = dispatch_load.insert_processing(settings, ORG, count, definition_id)
    late = dispatch_load.complete_at_rate(settings, report_ids, COMPLETIONS_PER_SECOND, uploaded)
    # Past a minute the retry schedule is at work: reported as a wrong result, not waited for.
    dispatch_load.wait_for_count(settings, DELIVERED, {}, count, timeout=60)
    _, seconds, undelivered = delivered_times(settings)
    return {
        "runs": count,
        "rate": COMPLETIONS_PER_SECOND,
        "late_starts": late,
        **dispatch_load.percentiles_ms(seconds),
        "problems": [f"{undelivered} of {count} not Delivered: {last_errors(settings)}"]
        if undelivered
        else [],
    }


def add_definition(settings: Settings, target: dict[str, Any]) -> uuid.UUID:
    definition_id = uuid.uuid4()
    with dispatch_load.connect(settings) as connection:
        connection.execute(
            INSERT_DEFINITION,
            {
                "id": definition_id,
                "org": ORG,
                "name": f"Daily sessions ({target['kind']})",
                "deliveries": json.dumps([target]),
            },
        )
    return definition_id


def measure(settings: Settings, work_dir: Path) -> dict[str, Any]:
    port = free_port()
    with serving("tests.perf.smtp_sink", port) as sink_pid:
        mail = settings.with_overrides(
            smtp_url=f"smtp://127.0.0.1:{port}",
            email_from="Reportbox <reportbox@localhost>",
            delivery_secrets_key=Fernet.generate_key().decode(),
        )
        clear(mail)
        definition_id = add_definition(mail, TARGET)
        uploaded = upload_file(mail)
        try:
            with (
                s3_and_sftp_targets(mail, work_dir) as others,
                dispatch_load.dispatcher(mail, work_dir) as process,
            ):
                groups = {
                    "dispatcher": lambda: pids_of(process.pid),
                    "postgres": lambda: pids_named(("postgres",)),
                    "bench process": lambda: [os.getpid()],
                    "sink": lambda: [sink_pid],
                }
                sides = alternate(
                    {
                        "dispatcher": lambda: dispatched(mail, definition_id, uploaded, groups),
                        "smtplib loop": lambda: smtp_loop(mail, port, lambda: [sink_pid]),
                    }
                )
                latency_result = latency(mail, definition_id, uploaded)
                by_kind = {
                    kind: latency(mail, add_definition(mail, target), uploaded)
                    for kind, target in others.items()
                }
        finally:
            clear(mail)
            execute(mail, f"DELETE FROM report_definitions WHERE org = '{ORG}'")
    keys = ("per_second", "seconds")
    through = summarise(sides["dispatcher"], keys)
    reference = summarise(sides["smtplib loop"], keys)
    problems = [p for run in sides["dispatcher"] for p in run["problems"]]
    return {
        "concurrency": mail.delivery_concurrency,
        "file_bytes": FILE_BYTES,
        "dispatcher": through,
        "smtplib_loop": reference,
        "latency": latency_result,
        "latency_by_kind": by_kind,
        "problems": problems
        + latency_result["problems"]
        + [f"{kind}: {p}" for kind, result in by_kind.items() for p in result["problems"]],
    }


def lines(data: dict[str, Any]) -> list[Line]:
    through, reference = data["dispatcher"], data["smtplib_loop"]
    rate = through["per_second"]["median"]
    reference_rate = reference["per_second"]["median"]
    waited = data["latency"]
    return [
        Line(
            f"{through['runs'][0]['deliveries']:,} emails with a 1 MiB attachment, "
            f"{data['concurrency']} threads ({len(through['runs'])} rounds)",
            f"{rate:,.1f}/s [{through['per_second']['min']:,.1f}-"
            f"{through['per_second']['max']:,.1f}]",
            f"smtplib loop: {reference_rate:,.1f}/s",
            ratio(rate, reference_rate, "higher"),
            verdict(rate >= GOAL_PER_SECOND and not data["problems"]),
            f">= {GOAL_PER_SECOND}/s",
        ),
        Line("  CPU delivering (cores)", format_shares(through["cpu"])),
        Line("  CPU of the reference (cores)", format_shares(reference["cpu"])),
        *(
            latency_line(kind, result)
            for kind, result in {"email": waited, **data.get("latency_by_kind", {})}.items()
        ),
    ]


def latency_line(kind: str, waited: dict[str, Any]) -> Line:
    return Line(
        f"Completed -> Delivered ({kind}), {waited['rate']}/s completions for "
        f"{waited['runs'] // waited['rate']} s",
        f"p50 {waited['p50_ms']:.0f} / p99 {waited['p99_ms']:.0f} ms (max {waited['max_ms']:.0f})",
        f"late completions {waited['late_starts']}",
    )

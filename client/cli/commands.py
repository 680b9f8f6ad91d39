"""One function per command: call the client, print the outcome, return the exit code."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from client import errors
from client.api_client import Client, ReportRef, report_id_of
from client.cli import output, parameters
from client.cli.exit_codes import ExitCode, for_status
from client.cli.progress import progress_for
from client.models import CANCELLED, COMPLETED, PENDING, Accepted, Report, ReportType


class Interrupted(Exception):
    """Ctrl-C ended the command (after the cancel question, if there was one)."""


@dataclass
class Context:
    client: Client
    json: bool
    stdin: TextIO
    stdout: TextIO
    stderr: TextIO

    def emit(self, text: str, data: Any) -> None:
        """The command's result on stdout: `data` as JSON with --json, else `text`."""
        self.stdout.write((output.to_json(data) if self.json else text) + "\n")
        self.stdout.flush()

    def note(self, text: str) -> None:
        """A remark for the person at the terminal, on stderr (kept out of --json output)."""
        self.stderr.write(text + "\n")
        self.stderr.flush()


def types(context: Context, args: argparse.Namespace) -> ExitCode:
    report_types = context.client.report_types()
    context.emit(
        output.report_types_text(report_types), {"items": [item.raw for item in report_types]}
    )
    return ExitCode.DONE


def find_type(client: Client, name: str) -> ReportType | None:
    """The catalog entry, to give --param values their declared types; None if unknown."""
    return next((item for item in client.report_types() if item.name == name), None)


def parameters_of(context: Context, args: argparse.Namespace) -> dict[str, Any]:
    """The parameters that --param, --from/--to and --params-file give for args.report_type."""
    needs_schema = bool(args.param or args.from_date or args.to_date)
    report_type = find_type(context.client, args.report_type) if needs_schema else None
    return parameters.build(
        report_type,
        file=args.params_file,
        pairs=args.param,
        from_date=args.from_date,
        to_date=args.to_date,
    )


def request(context: Context, args: argparse.Namespace) -> ExitCode:
    values = parameters_of(context, args)
    accepted = context.client.request_report(args.report_type, args.format, **values)
    if not (args.wait or args.output):
        context.emit(accepted.report_id, accepted.raw)
        return ExitCode.DONE
    return wait_and_save(context, accepted, args.format, args.timeout, args.output)


def watch(context: Context, args: argparse.Namespace) -> ExitCode:
    return wait_and_save(context, args.report_id, None, args.timeout, args.output)


def status(context: Context, args: argparse.Namespace) -> ExitCode:
    report = context.client.get(args.report_id)
    context.emit(output.report_text(report), report.raw)
    return for_status(report.status)


def history(context: Context, args: argparse.Namespace) -> ExitCode:
    filters = {
        "status": args.status,
        "report_type": args.report_type,
        "definition_id": args.definition_id,
    }
    if args.all:
        reports = list(context.client.iter_history(**filters))
        data: dict[str, Any] = {"items": [report.raw for report in reports], "total": len(reports)}
    else:
        page = context.client.history(**filters, page=args.page, page_size=args.page_size)
        reports = page.items
        data = {
            "items": [report.raw for report in reports],
            "page": page.page,
            "pageSize": page.page_size,
            "total": page.total,
        }
    context.emit(output.history_text(reports), data)
    return ExitCode.DONE


def download(context: Context, args: argparse.Namespace) -> ExitCode:
    report = context.client.get(args.report_id)
    path = context.client.download(report, args.output)
    context.emit(_saved_line(report, path), {**report.raw, "savedTo": str(path)})
    return ExitCode.DONE


def cancel(context: Context, args: argparse.Namespace) -> ExitCode:
    report = context.client.cancel(args.report_id)
    context.emit(_cancel_line(report), report.raw)
    return ExitCode.DONE


def _saved_line(report: Report, path: object) -> str:
    size = f"{report.file.size_bytes:,} bytes, " if report.file else ""
    return f"saved {path} ({size}sha256 verified)"


def _cancel_line(report: Report) -> str:
    if report.status == CANCELLED:
        return f"report {report.report_id} Cancelled"
    return (
        f"report {report.report_id}: cancel requested; "
        f"it is {report.status} and stops within seconds"
    )


def wait_and_save(
    context: Context,
    report: ReportRef,
    report_format: str | None,
    timeout: float | None,
    output_path: str | None,
) -> ExitCode:
    final = _wait_with_progress(context, report, report_format, timeout)
    text, data = output.outcome_line(final), dict(final.raw)
    if final.status == COMPLETED and output_path:
        path = context.client.download(final, output_path)
        text += "\n" + _saved_line(final, path)
        data["savedTo"] = str(path)
    context.emit(text, data)
    return for_status(final.status)


def _wait_with_progress(
    context: Context, report: ReportRef, report_format: str | None, timeout: float | None
) -> Report:
    progress = progress_for(context.stderr)
    try:
        if isinstance(report, Accepted):
            # Something to see at once; the first look waits for the server's Retry-After.
            # Inside the try: a Ctrl-C that lands while this line is still being written
            # (the user sees it already) must be offered the cancel like any other.
            pending = Report(report.report_id, report.report_type, report_format or "", PENDING)
            progress.show(pending)
        return context.client.wait(report, timeout=timeout, on_progress=progress.show)
    except KeyboardInterrupt:
        progress.finish()
        _offer_cancel(context, report_id_of(report))
        raise Interrupted from None
    finally:
        progress.finish()


def _offer_cancel(context: Context, report_id: str) -> None:
    """Ask whether Ctrl-C should cancel the report too; no by default and without a terminal."""
    if not context.stdin.isatty():
        context.note(
            f"interrupted; report {report_id} goes on (reportbox cancel {report_id} stops it)"
        )
        return
    context.stderr.write(f"Cancel report {report_id}? [y/N] ")
    context.stderr.flush()
    try:
        answer = context.stdin.readline()
    except KeyboardInterrupt:
        answer = ""
    if answer.strip().lower() not in ("y", "yes"):
        context.note(f"report {report_id} goes on")
        return
    try:
        context.note(_cancel_line(context.client.cancel(report_id)))
    except errors.ReportboxError as error:
        context.note(output.error_line(error))


Handler = Callable[[Context, argparse.Namespace], ExitCode]

COMMANDS: dict[str, Handler] = {
    "types": types,
    "request": request,
    "status": status,
    "watch": watch,
    "list": history,
    "download": download,
    "cancel": cancel,
}

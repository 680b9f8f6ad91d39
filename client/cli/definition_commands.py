"""`reportbox definitions ...` and `reportbox schedules preview`: saved requests and schedules."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from client.cli import definition_output
from client.cli.arguments import (
    CommandFactory,
    command_group,
    definition_id,
    parameter_options,
    wait_options,
)
from client.cli.commands import Context, Handler, parameters_of, wait_and_save
from client.cli.exit_codes import ExitCode, UsageError
from client.definitions import ASYNC, SYNC, Definition, Schedule

PERIODS = "previousDay, previousWeek, previousMonth, monthToDate, last7Days or last30Days"
SEND_WHEN = ("always", "hasRows", "changed")


def _now() -> datetime:
    return datetime.now(UTC)


def list_definitions(context: Context, args: argparse.Namespace) -> ExitCode:
    if args.all:
        definitions = list(context.client.iter_definitions())
        data = {"items": [item.raw for item in definitions], "total": len(definitions)}
    else:
        page = context.client.list_definitions(args.page, args.page_size)
        definitions = page.items
        data = {
            "items": [item.raw for item in definitions],
            "page": page.page,
            "pageSize": page.page_size,
            "total": page.total,
        }
    context.emit(definition_output.definitions_text(definitions), data)
    return ExitCode.DONE


def show(context: Context, args: argparse.Namespace) -> ExitCode:
    definition = context.client.get_definition(args.definition_id)
    context.emit(definition_output.definition_text(definition, _now()), definition.raw)
    return ExitCode.DONE


def schedule_of(args: argparse.Namespace) -> Schedule | None:
    """--cron and --timezone come together: a wall time means nothing without its zone."""
    if args.cron is None and args.timezone is None:
        return None
    if args.cron is None or args.timezone is None:
        raise UsageError(
            "--cron and --timezone go together (the zone is an IANA name such as "
            "Europe/Berlin, or UTC)"
        )
    return Schedule(args.cron, args.timezone)


def create(context: Context, args: argparse.Namespace) -> ExitCode:
    schedule = schedule_of(args)
    definition = context.client.create_definition(
        args.name,
        args.report_type,
        args.format,
        parameters=parameters_of(context, args),
        period=args.period,
        schedule=schedule,
        deliveries=[{"kind": "api", "mode": args.mode}] if args.mode else None,
        send_when=args.send_when,
        description=args.description,
    )
    context.emit(_changed_line(definition, "created"), definition.raw)
    return ExitCode.DONE


def generate(context: Context, args: argparse.Namespace) -> ExitCode:
    accepted = context.client.generate(args.definition_id)
    if not (args.wait or args.output):
        context.emit(accepted.report_id, accepted.raw)
        return ExitCode.DONE
    return wait_and_save(context, accepted, None, args.timeout, args.output)


def content(context: Context, args: argparse.Namespace) -> ExitCode:
    path = context.client.definition_content(args.definition_id, args.output)
    size = path.stat().st_size
    context.emit(
        f"saved {path} ({size:,} bytes)",
        {"definitionId": args.definition_id, "savedTo": str(path), "sizeBytes": size},
    )
    return ExitCode.DONE


def pause(context: Context, args: argparse.Namespace) -> ExitCode:
    definition = context.client.update_definition(args.definition_id, active=False)
    context.emit(_changed_line(definition, "paused"), definition.raw)
    return ExitCode.DONE


def resume(context: Context, args: argparse.Namespace) -> ExitCode:
    definition = context.client.update_definition(args.definition_id, active=True)
    context.emit(_changed_line(definition, "resumed"), definition.raw)
    return ExitCode.DONE


def delete(context: Context, args: argparse.Namespace) -> ExitCode:
    context.client.delete_definition(args.definition_id)
    context.emit(
        f"definition {args.definition_id} deleted; its runs stay in the history",
        {"definitionId": args.definition_id, "deleted": True},
    )
    return ExitCode.DONE


def preview(context: Context, args: argparse.Namespace) -> ExitCode:
    result = context.client.preview_schedule(args.cron, args.timezone, args.from_, args.count)
    context.emit(definition_output.preview_text(result, _now()), result.raw)
    return ExitCode.DONE


def _changed_line(definition: Definition, what: str) -> str:
    line = f"definition {definition.definition_id} {what}"
    if definition.active and definition.next_runs:
        line += f"; next run {definition_output.instant_text(definition.next_runs[0])}"
    return line


COMMANDS: dict[str, Handler] = {
    "definitions list": list_definitions,
    "definitions show": show,
    "definitions create": create,
    "definitions generate": generate,
    "definitions content": content,
    "definitions pause": pause,
    "definitions resume": resume,
    "definitions delete": delete,
    "schedules preview": preview,
}


def add_parsers(command: CommandFactory, common: argparse.ArgumentParser) -> None:
    """The `definitions` and `schedules` command groups."""
    definitions = command_group(
        command, common, "definitions", "saved report requests, run on demand or on a schedule"
    )

    listing = definitions("list", "list your report definitions, newest first")
    listing.add_argument("--page", type=int, default=1)
    listing.add_argument("--page-size", type=int, default=20, help="at most 100 (20)")
    listing.add_argument("--all", action="store_true", help="every page")

    show_parser = definitions("show", "show a definition and its next runs")
    show_parser.add_argument("definition_id", metavar="ID", type=definition_id)

    _create_parser(definitions("create", "save a report definition"))

    generate_parser = definitions(
        "generate", "run an async definition now; with --wait, follow the run to the end"
    )
    generate_parser.add_argument("definition_id", metavar="ID", type=definition_id)
    generate_parser.add_argument(
        "-w", "--wait", action="store_true", help="wait with progress until it ends"
    )
    wait_options(
        generate_parser, "once Completed, download to this file or directory (implies --wait)"
    )

    content_parser = definitions("content", "build a sync definition's file now and save it")
    content_parser.add_argument("definition_id", metavar="ID", type=definition_id)
    content_parser.add_argument(
        "-o", "--output", default=".", metavar="PATH", help="file or directory (the current one)"
    )

    for name, help_text in [
        ("pause", "stop a definition's scheduled runs"),
        ("resume", "start a definition's scheduled runs again (also after failures)"),
        ("delete", "delete a definition; its runs stay in the history"),
    ]:
        definitions(name, help_text).add_argument("definition_id", metavar="ID", type=definition_id)

    schedules = command_group(command, common, "schedules", "check cron schedules")
    preview_parser = schedules("preview", "the next instants of a cron schedule in a zone")
    _schedule_options(preview_parser, required=True)
    preview_parser.add_argument(
        "--from", dest="from_", metavar="INSTANT", help="RFC 3339; the default is now"
    )
    preview_parser.add_argument("--count", type=int, default=5, help="at most 50 (5)")


def _schedule_options(parser: argparse.ArgumentParser, required: bool) -> None:
    parser.add_argument(
        "--cron",
        required=required,
        help='five fields, or @hourly, @daily, @weekly, @monthly, @yearly (e.g. "0 6 * * 1")',
    )
    parser.add_argument(
        "--timezone", required=required, help="the IANA zone the cron reads in (Europe/Berlin)"
    )


def _create_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", required=True, help="1-150 characters, unique in your org")
    parser.add_argument(
        "--type",
        dest="report_type",
        metavar="TYPE",
        required=True,
        help="e.g. sessions (see `reportbox types`)",
    )
    parser.add_argument("-f", "--format", default="csv", help="a format the type lists (csv)")
    parameter_options(parser)
    parser.add_argument("--period", help=f"a relative date range at run time: {PERIODS}")
    _schedule_options(parser, required=False)
    parser.add_argument("--description")
    parser.add_argument(
        "--mode",
        choices=(ASYNC, SYNC),
        help="async: runs in the background (the default); sync: `definitions content`",
    )
    parser.add_argument("--send-when", choices=SEND_WHEN, help="when deliveries go (always)")

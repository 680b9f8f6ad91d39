"""`reportbox`: the command line. Parses, builds one Client, runs a command, maps the exit code."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from typing import NoReturn

import httpx

from client import errors
from client.api_client import Client
from client.cli import definition_commands, delivery_commands, output
from client.cli.arguments import (
    command_factory,
    definition_id,
    parameter_options,
    report_id,
    wait_options,
)
from client.cli.commands import COMMANDS, Context, Handler, Interrupted
from client.cli.exit_codes import EXIT_CODES_HELP, ExitCode, UsageError, for_error

DEFAULT_URL = "http://127.0.0.1:8000"

DESCRIPTION = """\
Request Reportbox reports, wait for them and download them with their checksum verified.

The API's URL and token come from --url and --token, or REPORTBOX_URL and
REPORTBOX_TOKEN (prefer the variable: a command line is visible to other users).
"""

EPILOG = f"""\
examples:
  reportbox types
  reportbox request sessions --from 2026-01-01 --to 2026-01-31 --wait -o sessions.csv
  reportbox request sessions --param fromDate=2026-01-01 --param toDate=2026-01-31 \\
      --param country=DE --format csv
  reportbox watch REPORT_ID -o out.csv
  reportbox list --status Completed --json
  reportbox definitions create --name "Weekly sessions" --type sessions \\
      --period previousWeek --cron "0 6 * * 1" --timezone Europe/Berlin
  reportbox definitions generate DEFINITION_ID --wait -o weekly.csv
  reportbox schedules preview --cron "30 2 * * *" --timezone Europe/Berlin
  reportbox deliveries list REPORT_ID
  reportbox deliveries retry REPORT_ID DELIVERY_ID

{EXIT_CODES_HELP}"""


class Parser(argparse.ArgumentParser):
    """argparse, with a usage error as one line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(ExitCode.USAGE, f"error: {message} (see {self.prog} --help)\n")


def _common_options(suppress: bool) -> Parser:
    """Options every command takes, before or after the command's name.

    The copy on each command has no defaults (SUPPRESS), so it does not overwrite a value
    given before the command's name.
    """
    # A Parser like the commands that take it as a parent (argparse's types want one class).
    parser = Parser(add_help=False)

    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    group = parser.add_argument_group("connection and output")
    group.add_argument(
        "--url", default=default(None), help=f"API base URL (REPORTBOX_URL; {DEFAULT_URL})"
    )
    group.add_argument(
        "--token", default=default(None), help="bearer token (REPORTBOX_TOKEN); never echoed"
    )
    group.add_argument(
        "--json",
        action="store_true",
        default=default(False),
        help="machine-readable output on stdout",
    )
    group.add_argument(
        "--http-timeout",
        type=float,
        default=default(30.0),
        metavar="SECONDS",
        help="per HTTP request (30)",
    )
    group.add_argument(
        "--retries",
        type=int,
        default=default(2),
        help="retries after connection errors, 429, 502, 503, 504 (2)",
    )
    return parser


def build_parser() -> Parser:
    parser = Parser(
        prog="reportbox",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[_common_options(suppress=False)],
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = _common_options(suppress=True)

    command = command_factory(commands, common)

    command("types", "list report types with their parameters and formats")

    request = command("request", "request a report; with --wait, follow it to the end")
    request.add_argument(
        "report_type", metavar="TYPE", help="e.g. sessions (see `reportbox types`)"
    )
    request.add_argument("-f", "--format", default="csv", help="a format the type lists (csv)")
    parameter_options(request)
    request.add_argument(
        "-w", "--wait", action="store_true", help="wait with progress until it ends"
    )
    wait_options(request, "once Completed, download to this file or directory (implies --wait)")

    status = command("status", "show a report once")
    status.add_argument("report_id", metavar="ID", type=report_id)

    watch = command("watch", "follow a report with progress until it ends")
    watch.add_argument("report_id", metavar="ID", type=report_id)
    wait_options(watch, "once Completed, download to this file or directory")

    history = command("list", "list your reports, newest first")
    history.add_argument(
        "--status", help="Pending, Processing, Completed, Failed, Cancelled or Expired"
    )
    history.add_argument("--type", dest="report_type", help="only this report type")
    history.add_argument(
        "--definition",
        dest="definition_id",
        metavar="ID",
        type=definition_id,
        help="only the runs of this report definition",
    )
    history.add_argument("--page", type=int, default=1)
    history.add_argument("--page-size", type=int, default=20, help="at most 100 (20)")
    history.add_argument("--all", action="store_true", help="every page")

    download = command("download", "download a Completed report, checking its sha256")
    download.add_argument("report_id", metavar="ID", type=report_id)
    download.add_argument(
        "-o", "--output", default=".", metavar="PATH", help="file or directory (the current one)"
    )

    cancel = command("cancel", "cancel a Pending or Processing report")
    cancel.add_argument("report_id", metavar="ID", type=report_id)

    definition_commands.add_parsers(command, common)
    delivery_commands.add_parsers(command, common)
    return parser


def _connection(args: argparse.Namespace, env: Mapping[str, str]) -> tuple[str, str]:
    url = args.url or env.get("REPORTBOX_URL") or DEFAULT_URL
    if not url.startswith(("http://", "https://")):
        raise UsageError(f"the URL must start with http:// or https://, not {url!r}")
    token = args.token or env.get("REPORTBOX_TOKEN")
    if not token:
        raise UsageError("no token: set REPORTBOX_TOKEN or pass --token")
    return url, token


ALL_COMMANDS: dict[str, Handler] = {
    **COMMANDS,
    **definition_commands.COMMANDS,
    **delivery_commands.COMMANDS,
}


def command_name(args: argparse.Namespace) -> str:
    """`list`, or `definitions show` for a command of a group."""
    return " ".join(filter(None, (args.command, getattr(args, "subcommand", None))))


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    context: Context | None = None
    try:
        url, token = _connection(args, os.environ if env is None else env)
        with Client(
            url, token, timeout=args.http_timeout, max_retries=max(args.retries, 0)
        ) as client:
            context = Context(client, args.json, sys.stdin, sys.stdout, sys.stderr)
            return ALL_COMMANDS[command_name(args)](context, args)
    except (Interrupted, KeyboardInterrupt):
        return ExitCode.INTERRUPTED
    except (errors.ReportboxError, UsageError, OSError, httpx.HTTPError) as error:
        if args.json:
            sys.stdout.write(output.to_json(output.error_json(error)) + "\n")
        sys.stderr.write(output.error_line(error) + "\n")
        return for_error(error)

"""Pieces of the command line's parser that several commands share."""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Callable
from typing import TypeVar

from client.cli.exit_codes import EXIT_CODES_HELP

CommandFactory = Callable[[str, str], argparse.ArgumentParser]
# The parser class of a group's commands: the top level's own Parser, or argparse's.
ParserClass = TypeVar("ParserClass", bound=argparse.ArgumentParser)


def identifier(kind: str) -> Callable[[str], str]:
    """An id argument that must be a UUID: anything else could only get a confusing 404."""

    def check(value: str) -> str:
        try:
            uuid.UUID(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not a {kind} id (a UUID)") from None
        return value

    return check


report_id = identifier("report")
definition_id = identifier("definition")
delivery_id = identifier("delivery")


def command_factory(
    subparsers: argparse._SubParsersAction[ParserClass],
    common: ParserClass,
) -> CommandFactory:
    """Adds a command that takes the common options and shows the exit codes in its help."""

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return subparsers.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=EXIT_CODES_HELP,
            formatter_class=argparse.RawDescriptionHelpFormatter,
            parents=[common],
        )

    return command


def command_group(
    command: CommandFactory, common: argparse.ArgumentParser, name: str, help_text: str
) -> CommandFactory:
    """A command of commands (`reportbox definitions list`): the factory of its commands,
    whose name the parser keeps as `subcommand`."""
    group = command(name, help_text)
    return command_factory(
        group.add_subparsers(dest="subcommand", required=True, metavar="COMMAND"), common
    )


def parameter_options(parser: argparse.ArgumentParser) -> None:
    """--param, --from/--to and --params-file: a report's parameters (see cli/parameters.py)."""
    parser.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a parameter; repeatable",
    )
    parser.add_argument("--from", dest="from_date", metavar="DATE", help="start of the date range")
    parser.add_argument(
        "--to", dest="to_date", metavar="DATE", help="end of the date range (inclusive)"
    )
    parser.add_argument("--params-file", metavar="FILE", help="a JSON object of parameters")


def wait_options(parser: argparse.ArgumentParser, output_help: str) -> None:
    parser.add_argument(
        "--timeout", type=float, metavar="SECONDS", help="stop waiting after this long (exit 6)"
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        help=output_help,
    )

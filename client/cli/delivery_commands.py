"""`reportbox deliveries ...`: a run's deliveries (email, s3, sftp), and sending one again."""

from __future__ import annotations

import argparse

from client.cli import output
from client.cli.arguments import CommandFactory, command_group, delivery_id, report_id
from client.cli.commands import Context, Handler
from client.cli.exit_codes import ExitCode


def list_deliveries(context: Context, args: argparse.Namespace) -> ExitCode:
    """Every delivery of the run; a Failed one is the run's news, not the command's failure."""
    report = context.client.get(args.report_id)
    context.emit(
        output.deliveries_text(report.deliveries),
        {"reportId": report.report_id, "items": report.raw.get("deliveries") or []},
    )
    return ExitCode.DONE


def retry(context: Context, args: argparse.Namespace) -> ExitCode:
    report = context.client.retry_delivery(args.report_id, args.delivery_id)
    retried = next(
        (item for item in report.deliveries if item.delivery_id == args.delivery_id), None
    )
    status = retried.status if retried is not None else "Pending"
    context.emit(
        f"delivery {args.delivery_id} of report {report.report_id} is {status}: "
        "it is sent again now",
        report.raw,
    )
    return ExitCode.DONE


COMMANDS: dict[str, Handler] = {
    "deliveries list": list_deliveries,
    "deliveries retry": retry,
}


def add_parsers(command: CommandFactory, common: argparse.ArgumentParser) -> None:
    """The `deliveries` command group."""
    deliveries = command_group(
        command, common, "deliveries", "a definition run's deliveries by e-mail, S3 and SFTP"
    )
    listing = deliveries("list", "show each delivery of a run: status, attempts, last error")
    listing.add_argument("report_id", metavar="REPORT_ID", type=report_id)
    retry_parser = deliveries("retry", "send one delivery of a run again, now")
    retry_parser.add_argument("report_id", metavar="REPORT_ID", type=report_id)
    retry_parser.add_argument("delivery_id", metavar="DELIVERY_ID", type=delivery_id)

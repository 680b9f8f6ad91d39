"""The command line's pure parts: parameters, exit codes and the progress display."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from client import errors
from client.cli import output, parameters
from client.cli.exit_codes import ExitCode, UsageError, for_error, for_status
from client.cli.progress import PLAIN_INTERVAL, PlainProgress, TerminalProgress, bar, describe
from client.models import Progress, Report, ReportType

SESSIONS = ReportType(
    name="sessions",
    title="Listening sessions",
    description="",
    formats=["csv"],
    roles=["analyst"],
    parameters={
        "type": "object",
        "properties": {
            "fromDate": {"type": "string", "format": "date"},
            "toDate": {"type": "string", "format": "date"},
            "userId": {"type": "integer"},
            "share": {"type": ["number", "null"]},
            "active": {"type": "boolean"},
        },
        "required": ["fromDate", "toDate"],
    },
)
USERS = ReportType("users", "", "", ["csv"], ["admin"], {"properties": {"createdFrom": {}}})


def test_params_come_from_the_file_then_from_to_then_param(tmp_path):
    file = tmp_path / "parameters.json"
    file.write_text(json.dumps({"fromDate": "2025-01-01", "country": "FR", "userId": 3}))

    built = parameters.build(
        SESSIONS,
        file=str(file),
        pairs=["country=DE", "userId=42", "share=0.5", "active=true"],
        from_date="2026-01-01",
        to_date="2026-01-31",
    )

    assert built == {
        "fromDate": "2026-01-01",
        "toDate": "2026-01-31",
        "country": "DE",
        "userId": 42,
        "share": 0.5,
        "active": True,
    }


def test_from_to_name_the_date_range_the_type_has():
    assert parameters.build(USERS, from_date="2026-01-01", to_date="2026-02-01") == {
        "createdFrom": "2026-01-01",
        "createdTo": "2026-02-01",
    }
    assert parameters.build(None, from_date="2026-01-01") == {"fromDate": "2026-01-01"}


def test_a_value_that_does_not_convert_is_sent_as_it_is_for_the_server_to_name():
    assert parameters.build(SESSIONS, pairs=["userId=abc", "unknown=7"]) == {
        "userId": "abc",
        "unknown": "7",
    }


@pytest.mark.parametrize("pair", ["country", "=DE"])
def test_a_param_without_key_and_value_is_a_usage_error(pair):
    with pytest.raises(UsageError, match="KEY=VALUE"):
        parameters.build(SESSIONS, pairs=[pair])


@pytest.mark.parametrize(("content", "message"), [("[1]", "JSON object"), ("{", "not valid JSON")])
def test_a_bad_parameters_file_is_a_usage_error(tmp_path, content, message):
    file = tmp_path / "p.json"
    file.write_text(content)
    with pytest.raises(UsageError, match=message):
        parameters.build(SESSIONS, file=str(file))


def report(status: str = "Processing", **progress: object) -> Report:
    return Report("r-1", "sessions", "csv", status, progress=Progress(**progress))


@pytest.mark.parametrize(
    ("status", "code"),
    [
        ("Completed", 0),
        ("Pending", 0),
        ("Processing", 0),
        ("Failed", 1),
        ("Cancelled", 3),
        ("Expired", 3),
    ],
)
def test_a_reports_status_gives_the_exit_code(status, code):
    assert for_status(status) == code


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (UsageError("x"), ExitCode.USAGE),
        (errors.ReportFailed(report("Failed")), ExitCode.FAILED),
        (errors.NotDownloadable(report("Cancelled"), "x"), ExitCode.CANCELLED_OR_EXPIRED),
        (errors.NotDownloadable(report("Processing"), "x"), ExitCode.OTHER_ERROR),
        (errors.Gone(410, "Gone"), ExitCode.CANCELLED_OR_EXPIRED),
        (errors.AuthenticationError(401, "Unauthorized"), ExitCode.AUTH_REFUSED),
        (errors.PermissionDenied(403, "Forbidden"), ExitCode.AUTH_REFUSED),
        (errors.ValidationError(422, "Unprocessable"), ExitCode.VALIDATION_REFUSED),
        (errors.WaitTimeout(report(), "x"), ExitCode.TIMED_OUT),
        (errors.Unavailable("x"), ExitCode.UNAVAILABLE),
        (errors.ServerError(503, "Service Unavailable"), ExitCode.UNAVAILABLE),
        (errors.RateLimited(429, "Too Many Requests"), ExitCode.UNAVAILABLE),
        (errors.NotFound(404, "Not Found"), ExitCode.OTHER_ERROR),
        (errors.Conflict(409, "Conflict"), ExitCode.OTHER_ERROR),
        (errors.ChecksumMismatch("x"), ExitCode.OTHER_ERROR),
        (FileNotFoundError(2, "No such file or directory"), ExitCode.OTHER_ERROR),
    ],
)
def test_each_error_gives_its_exit_code(error, code):
    assert for_error(error) == code


def test_the_description_has_rows_percent_and_eta():
    eta = datetime(2026, 12, 1, 12, 1, 5, tzinfo=UTC)
    running = report(
        rows_processed=1234, rows_total=5000, percent=24.7, estimated_completion_at=eta
    )
    assert describe(running, now=eta - timedelta(seconds=65)) == (
        "Processing  1,234 / 5,000 rows  24.7%  ETA 1:05"
    )
    assert describe(report("Pending")) == "Pending"
    assert bar(50.0, width=10) == "[#####-----]"
    assert bar(None, width=4) == "[----]"


def test_the_terminal_bar_redraws_one_line_in_place():
    stream = io.StringIO()
    progress = TerminalProgress(stream, clock=lambda: 0.0)
    progress.show(report(rows_processed=10, rows_total=20, percent=50.0))
    progress.show(report("Completed", rows_processed=20, rows_total=20, percent=100.0))
    progress.finish()
    assert stream.getvalue() == (
        f"\r{bar(50.0)} Processing  10 / 20 rows  50.0%  (0:00)\x1b[K"
        f"\r{bar(100.0)} Completed  20 / 20 rows  100.0%  (0:00)\x1b[K\n"
    )


def test_plain_lines_come_on_each_change_of_status_else_at_most_every_interval():
    stream = io.StringIO()
    now = [0.0]
    progress = PlainProgress(stream, clock=lambda: now[0])
    for at, status, rows in [
        (0.0, "Pending", 0),
        (1.0, "Processing", 1),
        (2.0, "Processing", 2),  # same status, too soon: not printed
        (1.0 + PLAIN_INTERVAL, "Processing", 3),
        (1.5 + PLAIN_INTERVAL, "Completed", 4),
    ]:
        now[0] = at
        progress.show(report(status, rows_processed=rows))
    assert stream.getvalue().splitlines() == [
        "report r-1: Pending",
        "report r-1: Processing  1 row",
        "report r-1: Processing  3 rows",
        "report r-1: Completed  4 rows",
    ]


def test_a_ctrl_c_while_the_first_progress_line_is_written_is_offered_the_cancel():
    # The user sees "Pending" as soon as its bytes reach the terminal, so a Ctrl-C may land
    # before the line's write returns. It must be handled like any other Ctrl-C while
    # waiting (the cancel is offered), never end the command silently.
    import io

    from client.cli.commands import Context, Interrupted, _wait_with_progress
    from client.models import Accepted

    class InterruptedOnFirstWrite(io.StringIO):
        interrupted = False

        def write(self, text: str) -> int:
            if not self.interrupted:
                self.interrupted = True
                super().write(text)
                raise KeyboardInterrupt
            return super().write(text)

    class NoClient:
        def wait(self, *args, **kwargs):
            raise AssertionError("the Ctrl-C came before any wait")

    stderr = InterruptedOnFirstWrite()
    context = Context(NoClient(), False, io.StringIO(), io.StringIO(), stderr)
    accepted = Accepted("r-1", "sessions", "Pending", "http://x/r-1", None, 1.0, False)

    try:
        _wait_with_progress(context, accepted, "csv", None)
    except KeyboardInterrupt:  # escaping it would also end this pytest run
        pytest.fail("the Ctrl-C left the command without offering the cancel")
    except Interrupted:
        pass
    else:
        pytest.fail("the Ctrl-C was swallowed")

    assert "report r-1 goes on" in stderr.getvalue()


def test_a_runs_deliveries_are_read_and_shown_one_a_line():
    report = Report.from_json(
        {
            "reportId": "r1",
            "reportType": "sessions",
            "status": "Completed",
            "deliveries": [
                {
                    "deliveryId": "d1",
                    "kind": "email",
                    "status": "Delivered",
                    "attempts": 1,
                    "lastError": None,
                    "deliveredAt": "2026-12-05T07:00:03+00:00",
                },
                {
                    "deliveryId": "d2",
                    "kind": "sftp",
                    "status": "Failed",
                    "attempts": 6,
                    "lastError": "connection refused",
                    "deliveredAt": None,
                },
            ],
        }
    )
    assert [line for line in output.report_text(report).splitlines() if "delivery" in line] == [
        "delivery   email Delivered (1 attempt, delivered 2026-12-05T07:00:03+00:00) d1",
        "delivery   sftp Failed (6 attempts) d2: connection refused",
    ]
    assert output.deliveries_text(report.deliveries).splitlines() == [
        "DELIVERY ID  KIND   STATUS     ATTEMPTS  DELIVERED            LAST ERROR",
        "d1           email  Delivered  1         2026-12-05 07:00:03  -",
        "d2           sftp   Failed     6         -                    connection refused",
    ]
    assert output.deliveries_text([]).startswith("no deliveries")

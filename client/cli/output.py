"""What the commands print: short human text, or the API's own JSON with --json."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from client import errors
from client.cli.progress import describe
from client.models import Delivery, Report, ReportType


def to_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=False, ensure_ascii=False)


def error_line(error: BaseException) -> str:
    """One line for stderr: what went wrong, never a traceback, never the token."""
    return f"error: {error}"


def error_json(error: BaseException) -> dict[str, Any]:
    body: dict[str, Any] = {"type": type(error).__name__, "message": str(error)}
    if isinstance(error, errors.ApiError):
        body.update(
            status=error.status,
            title=error.title,
            detail=error.detail,
            errors=error.errors or None,
            existingReportId=error.existing_report_id,
        )
    if isinstance(error, errors.ReportError):
        body["report"] = error.report.raw
    return {"error": {key: value for key, value in body.items() if value is not None}}


def _parameter(name: str, schema: dict[str, Any], required: bool) -> str:
    kind = schema.get("format") or schema.get("type") or "any"
    if isinstance(kind, list):
        kind = "|".join(str(item) for item in kind if item != "null")
    return f"{name}{'*' if required else ''} ({kind})"


def report_types_text(report_types: Iterable[ReportType]) -> str:
    blocks = []
    for report_type in report_types:
        properties = report_type.parameters.get("properties") or {}
        required = set(report_type.required_parameters)
        parameters = ", ".join(
            _parameter(name, schema, name in required) for name, schema in properties.items()
        )
        blocks.append(
            f"{report_type.name}  {report_type.title}\n"
            f"  {report_type.description}\n"
            f"  formats:     {', '.join(report_type.formats)}\n"
            f"  roles:       {', '.join(report_type.roles)}\n"
            f"  parameters:  {parameters or '-'}   (* required)"
        )
    return "\n\n".join(blocks)


def report_text(report: Report) -> str:
    """Every fact about one report, one per line."""
    lines = [
        f"report     {report.report_id}",
        f"type       {report.report_type} ({report.format})",
        f"status     {describe(report)}",
        f"parameters {json.dumps(report.parameters, ensure_ascii=False)}",
        f"created    {report.created_at.isoformat() if report.created_at else '-'}",
    ]
    if report.completed_at:
        lines.append(f"finished   {report.completed_at.isoformat()}")
    if report.file:
        lines.append(
            f"file       {report.file.name}, {report.file.rows:,} rows, "
            f"{report.file.size_bytes:,} bytes, sha256 {report.file.sha256}"
        )
    if report.expires_at:
        lines.append(f"expires    {report.expires_at.isoformat()}")
    if report.error:
        lines.append(f"error      {report.error.code}: {report.error.message}")
    lines.extend(f"delivery   {delivery_line(delivery)}" for delivery in report.deliveries)
    return "\n".join(lines)


def _attempts(count: int) -> str:
    return f"{count} attempt{'' if count == 1 else 's'}"


def delivery_line(delivery: Delivery) -> str:
    """One delivery in a line: `email Failed (2 attempts): 550 mailbox unavailable`."""
    facts = [_attempts(delivery.attempts)]
    if delivery.delivered_at:
        facts.append(f"delivered {delivery.delivered_at.isoformat()}")
    line = f"{delivery.kind} {delivery.status} ({', '.join(facts)}) {delivery.delivery_id}"
    return f"{line}: {delivery.last_error}" if delivery.last_error else line


def deliveries_text(deliveries: Sequence[Delivery]) -> str:
    if not deliveries:
        return "no deliveries: the report is no run of a definition with e-mail, S3 or SFTP"
    rows = [("DELIVERY ID", "KIND", "STATUS", "ATTEMPTS", "DELIVERED", "LAST ERROR")]
    for delivery in deliveries:
        rows.append(
            (
                delivery.delivery_id,
                delivery.kind,
                delivery.status,
                str(delivery.attempts),
                delivery.delivered_at.strftime("%Y-%m-%d %H:%M:%S")
                if delivery.delivered_at
                else "-",
                delivery.last_error or "-",
            )
        )
    return table(rows)


def outcome_line(report: Report) -> str:
    """The last line of a wait: how the report ended."""
    if report.file:
        return (
            f"report {report.report_id} {report.status}: {report.file.rows:,} rows, "
            f"{report.file.size_bytes:,} bytes"
        )
    if report.error:
        error = f"{report.error.code}: {report.error.message}"
        return f"report {report.report_id} {report.status}: {error}"
    return f"report {report.report_id} {report.status}"


def history_text(reports: Iterable[Report]) -> str:
    rows = [("REPORT ID", "TYPE", "FORMAT", "STATUS", "ROWS", "CREATED")]
    for report in reports:
        rows.append(
            (
                report.report_id,
                report.report_type,
                report.format,
                report.status,
                f"{report.file.rows:,}" if report.file else "-",
                report.created_at.strftime("%Y-%m-%d %H:%M:%S") if report.created_at else "-",
            )
        )
    return table(rows)


def table(rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns, two spaces apart; the first row is the heading."""
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )

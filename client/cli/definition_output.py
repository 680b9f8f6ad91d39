"""What the definition and schedule commands print for a person (--json prints the API's JSON)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from client.cli.output import table
from client.definitions import Definition, LastRun, SchedulePreview

LABEL_WIDTH = 12


def instant_text(instant: datetime) -> str:
    """Wall time and UTC offset: `2026-03-29 03:00 +02:00`."""
    offset = instant.isoformat(timespec="minutes")[len("YYYY-MM-DDTHH:MM") :]
    return f"{instant:%Y-%m-%d %H:%M} {offset}".rstrip()


def until_text(instant: datetime, now: datetime) -> str:
    """How far away an instant is, to the minute: `in 2 d 5 h`, `in 3 h 20 min`, `in 5 min`."""
    minutes = int((instant - now).total_seconds() // 60)
    if minutes < 0:
        return "due"
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"in {days} d {hours} h"
    if hours:
        return f"in {hours} h {minutes} min"
    return f"in {minutes} min"


def instants_lines(label: str, instants: Sequence[datetime], now: datetime) -> list[str]:
    """One instant a line, with its offset and how far away it is; the label on the first."""
    lines = []
    for index, instant in enumerate(instants):
        head = label if index == 0 else ""
        lines.append(f"{head:<{LABEL_WIDTH}}{instant_text(instant)}  ({until_text(instant, now)})")
    return lines


def schedule_text(definition: Definition) -> str:
    if definition.schedule is None:
        return "-"
    return f"{definition.schedule.cron} in {definition.schedule.timezone}"


def state_text(definition: Definition) -> str:
    if definition.active:
        return "active"
    if definition.paused_reason:
        return f"paused: {definition.paused_reason}"
    return "paused"


def deliveries_text(deliveries: Iterable[dict[str, Any]]) -> str:
    described = [
        " ".join(str(part) for part in (item.get("kind"), item.get("mode")) if part)
        for item in deliveries
    ]
    return ", ".join(described) or "api async (the default)"


def last_run_text(run: LastRun | None) -> str:
    if run is None:
        return "-"
    made = run.trigger or "run"
    if run.scheduled_for:
        made += f" for {instant_text(run.scheduled_for)}"
    return f"{run.report_id} {run.status} ({made})"


def definition_text(definition: Definition, now: datetime) -> str:
    """Every fact about one definition, one per line, then its next runs with their offsets."""
    facts = [
        ("definition", definition.definition_id),
        ("name", definition.name),
        ("description", definition.description or "-"),
        ("type", f"{definition.report_type} ({definition.format})"),
        ("parameters", json.dumps(definition.parameters, ensure_ascii=False)),
        ("period", definition.period or "-"),
        ("schedule", schedule_text(definition)),
        ("deliveries", deliveries_text(definition.deliveries)),
        ("send when", definition.send_when or "-"),
        ("state", state_text(definition)),
        ("owner", definition.owner or "-"),
        ("last run", last_run_text(definition.last_run)),
        ("failures", f"{definition.consecutive_failures} in a row"),
    ]
    lines = [f"{label:<{LABEL_WIDTH}}{value}" for label, value in facts]
    if definition.next_runs:
        lines += instants_lines("next runs", definition.next_runs, now)
    elif definition.schedule is not None and not definition.active:
        lines.append(f"{'next runs':<{LABEL_WIDTH}}none while paused")
    return "\n".join(lines)


def definitions_text(definitions: Iterable[Definition]) -> str:
    rows = [("DEFINITION ID", "NAME", "TYPE", "FORMAT", "SCHEDULE", "STATE", "NEXT RUN")]
    for definition in definitions:
        rows.append(
            (
                definition.definition_id,
                definition.name,
                definition.report_type,
                definition.format,
                schedule_text(definition),
                "active" if definition.active else "paused",
                instant_text(definition.next_runs[0]) if definition.next_runs else "-",
            )
        )
    return table(rows)


def preview_text(preview: SchedulePreview, now: datetime) -> str:
    lines = [f"{preview.cron} in {preview.timezone}"]
    if preview.description:
        lines.append(preview.description)
    lines += instants_lines("", preview.instants, now)
    return "\n".join(line.rstrip() for line in lines)

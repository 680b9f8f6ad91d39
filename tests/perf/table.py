"""The printed table and its Markdown twin: one line per number, next to its reference.

A line that carries a bar says whether it was met; the other lines give its detail.
"""

from __future__ import annotations

from dataclasses import dataclass

HEADINGS = ("measurement", "result", "reference (same run)", "ratio", "bar", "goal")


@dataclass(frozen=True)
class Line:
    measurement: str
    result: str
    reference: str = ""
    ratio: str = ""
    verdict: str = ""  # "met", "missed", or "" for a line that only reports
    goal: str = ""


def ratio(value: float, reference: float, better: str) -> str:
    """value/reference, saying which direction is good so a reader need not guess."""
    if not reference:
        return "n/a"
    quotient = value / reference
    shown = f"{quotient:.2f}" if quotient >= 0.1 else f"{quotient:.1g}"  # 0.0009, not 0.00
    return f"{shown} ({better} is better)"


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def render(sections: list[tuple[str, list[Line]]]) -> str:
    rows = [line for _, lines in sections for line in lines]
    widths = [
        max(len(HEADINGS[i]), *(len(_cells(row)[i]) for row in rows)) if rows else len(HEADINGS[i])
        for i in range(len(HEADINGS))
    ]
    rule = "-+-".join("-" * width for width in widths)
    out = [_row(HEADINGS, widths), rule]
    for title, lines in sections:
        out.append(title)
        out.extend(_row(_cells(line), widths) for line in lines)
    out.append(rule)
    return "\n".join(out)


def render_markdown(sections: list[tuple[str, list[Line]]]) -> str:
    out = ["| " + " | ".join(HEADINGS) + " |", "|" + "---|" * len(HEADINGS)]
    for title, lines in sections:
        out.append(f"| **{_escape(title)}** |" + " |" * (len(HEADINGS) - 1))
        for line in lines:
            cells = (line.measurement, line.result, line.reference, line.ratio, line.verdict)
            out.append("| " + " | ".join(_escape(cell) for cell in (*cells, line.goal)) + " |")
    return "\n".join(out)


def _escape(cell: str) -> str:
    return cell.replace("|", "\\|")


def _cells(line: Line) -> tuple[str, ...]:
    return (
        "  " + line.measurement,
        line.result,
        line.reference,
        line.ratio,
        line.verdict,
        line.goal,
    )


def _row(cells: tuple[str, ...], widths: list[int]) -> str:
    return " | ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()

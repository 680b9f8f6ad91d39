"""The printed table: one line per number, next to the reference measured in the same run."""

from __future__ import annotations

from dataclasses import dataclass

HEADINGS = ("measurement", "result", "reference (same run)", "ratio")


@dataclass(frozen=True)
class Line:
    measurement: str
    result: str
    reference: str = ""
    ratio: str = ""


def ratio(value: float, reference: float, better: str) -> str:
    """value/reference, saying which direction is good so a reader need not guess."""
    if not reference:
        return "n/a"
    quotient = value / reference
    shown = f"{quotient:.2f}" if quotient >= 0.1 else f"{quotient:.1g}"  # 0.0009, not 0.00
    return f"{shown} ({better} is better)"


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


def _cells(line: Line) -> tuple[str, str, str, str]:
    return ("  " + line.measurement, line.result, line.reference, line.ratio)


def _row(cells: tuple[str, ...], widths: list[int]) -> str:
    return " | ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()

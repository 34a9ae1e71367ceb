"""The one table `make bench` prints: a Row per figure, added by small row functions."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    """One figure; `baseline` is measured in the same run, `goal` says what passes."""

    name: str
    value: str
    baseline: str = "-"
    goal: str = "-"
    verdict: str = "-"


COLUMNS = ("figure", "value", "baseline", "goal", "verdict")


def as_row(item: Row | tuple) -> Row:
    """A Row, or a (figure, value[, baseline[, goal[, verdict]]]) tuple from a row function."""
    return item if isinstance(item, Row) else Row(*(str(part) for part in item))


def verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("ok" if ok else "MISSED")


def render(rows: list[Row | tuple]) -> str:
    rows = [as_row(row) for row in rows]
    cells = [COLUMNS] + [(r.name, r.value, r.baseline, r.goal, r.verdict) for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
    line = lambda row: "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |"  # noqa: E731
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(cells[0]), rule, *(line(row) for row in cells[1:])])

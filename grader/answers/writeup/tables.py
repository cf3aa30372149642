"""Tables in a write-up, read row by row and column by column.

Three kinds of table reach the readers: Markdown pipe tables and LaTeX ``tabular`` rows (one line
is one row, cells by separator), and tables laid out on a page (a PDF, a converter's text) where
only positions say which column a piece belongs to, a long formula wraps onto lines of its own
with an empty first column, and an empty cell simply is not there. So a positioned cell goes to
the header cell it overlaps most, and a line with nothing in the label column continues the row
above it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from .clean import word_count
from .records import Cell, Line, Where

__all__ = ["LABEL", "Row", "Table", "read_table"]

LABEL = -1  # the column index of a row's label when no header cell names that column


@dataclass(frozen=True)
class Row:
    """One row: its label and each column's text (continuation lines joined)."""

    label: str
    values: dict[int, str]
    where: Where
    raw: str


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[Row, ...]
    first: int  # index of the header line
    end: int  # index after the last line of the table


def _column(cell: Cell, header: Sequence[Cell]) -> int:
    best, overlap = None, 0.0
    for i, h in enumerate(header):
        shared = min(cell.x1, h.x1) - max(cell.x0, h.x0)
        if shared > overlap:
            best, overlap = i, shared
    if best is not None:
        return best
    if cell.x1 < header[0].x0:
        return LABEL
    return min(range(len(header)), key=lambda i: abs(header[i].centre - cell.centre))


_OPERATOR_START = re.compile(r"^\s*[-+−–×·∗*=]")


def _is_prose(line: Line) -> bool:
    text = line.text.strip()
    return len(line.cells) <= 1 and word_count(text) >= 5 and not _OPERATOR_START.match(text)


def read_table(lines: Sequence[Line], index: int,
               value_columns: Callable[[tuple[str, ...]], Collection[int]],
               stops: Callable[[Line], bool]) -> Table | None:
    """The table whose header is ``lines[index]``, if ``value_columns`` finds columns to read
    in that header; ``stops`` says which lines end a table (a heading, say)."""
    head = lines[index]
    if len(head.cells) < 2:
        return None
    header = tuple(c.text for c in head.cells)
    wanted = value_columns(header)
    if not wanted:
        return None
    label_column = LABEL if 0 in wanted else 0
    rows: list[Row] = []
    end = index + 1
    blanks = 0
    for i in range(index + 1, len(lines)):
        line = lines[i]
        if not line.text.strip():
            blanks += 1
            if blanks >= 2 or head.grid:
                break
            continue
        if stops(line) or _is_prose(line) or (head.grid and not line.grid):
            break
        blanks = 0
        end = i + 1
        cells = line.cells or (Cell(line.text.strip(), 0.0, 0.0),)
        if head.grid:
            values = {n: c.text for n, c in enumerate(cells) if c.text}
        else:
            values = {}
            for cell in cells:
                col = _column(cell, head.cells) if line.cells else LABEL
                values[col] = f"{values[col]} {cell.text}".strip() if col in values else cell.text
        label = values.pop(label_column, "") if label_column in values else ""
        if not head.grid and not label and rows:
            previous = rows[-1]
            merged = dict(previous.values)
            for col, text in values.items():
                merged[col] = f"{merged[col]} {text}".strip() if col in merged else text
            rows[-1] = Row(previous.label, merged, previous.where, f"{previous.raw}\n{line.text}")
            continue
        rows.append(Row(label, values, line.where, line.text))
    if not rows:
        return None
    return Table(header, tuple(rows), index, end)

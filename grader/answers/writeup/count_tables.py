"""Counts in tables: a column per quantity (rows per layer, summed unless a total row says it),
or a row per quantity with a column per input size."""

from __future__ import annotations

from collections.abc import Sequence

from .candidates import TOTAL, ZERO, Candidate, Found, from_value, has_variable, prose_words
from .formula import (
    FormulaError,
    formula_span,
    mentions_doubling,
    mentions_original,
    read_factor,
    read_formula,
)
from .prose import quantities_in
from .records import Line, ReadStatus
from .tables import Row, Table

__all__ = ["counting_columns", "from_table", "row_line", "size_columns"]


def counting_columns(header: tuple[str, ...], doubled_here: bool) -> dict[int, str]:
    """Header cells naming one quantity (``# weights``, ``Outputs (64×64)``) -> answer key;
    none when a cell holds a formula (then the line is a row, not a header)."""
    out: dict[int, str] = {}
    if any(has_variable(title) for title in header):
        return out
    for i, title in enumerate(header):
        named = quantities_in(title)
        if len(named) == 1 and prose_words(title) <= 6:
            doubled = mentions_doubling(title) or (doubled_here and not mentions_original(title))
            out[i] = named[0] + ("_doubled" if doubled else "")
    return out


def from_table(found: Found, table: Table, keys: dict[int, str]) -> None:
    lines = tuple(range(table.first, table.end))
    totals = [r for r in table.rows if TOTAL.search(r.label) and not mentions_doubling(r.label)]
    doubled_rows = [r for r in table.rows if mentions_doubling(r.label)]
    layers = [r for r in table.rows if r not in totals and r not in doubled_rows]
    for column, key in keys.items():
        if totals:
            row = totals[-1]
            from_value(found, key, row.values.get(column, ""), row.raw, row.where,
                       "table total", True, True, lines)
        else:
            _sum_column(found, key, column, layers, table, lines)
        for row in doubled_rows:
            target = key if key.endswith("_doubled") else f"{key}_doubled"
            from_value(found, target, row.values.get(column, ""), row.raw, row.where,
                       "table row for the doubled input", True, True, lines)


def _sum_column(found: Found, key: str, column: int, rows: Sequence[Row], table: Table,
                lines: tuple[int, ...]) -> None:
    """A per-layer table without a total: the answer is the sum of its rows."""
    terms32, terms64, sized = [], [], False
    for row in rows:
        cell = row.values.get(column, "")
        if ZERO.match(cell) or (key.endswith("_doubled") and read_factor(cell) is not None
                                 and formula_span(cell) is None):
            continue
        try:
            reading = read_formula(cell, 32)
        except FormulaError as exc:
            found.add(Candidate(key, None, row.raw, row.where, "table", 0,
                                reason=f"a row of the table cannot be read: {exc}"))
            return
        if reading is None:
            found.add(Candidate(key, None, row.raw, row.where, "table", 0,
                                reason="a row of the table holds no formula"))
            return
        sized = sized or reading.sized
        terms32.append(f"({reading.text})")
        at64 = read_formula(cell, 64) if reading.sized else reading
        terms64.append(f"({at64.text if at64 else reading.text})")
    if not terms32:
        return
    raw = "\n".join(r.raw for r in rows)
    where = rows[0].where if rows else table.rows[0].where
    status: ReadStatus = "evaluated" if sized else "summed"
    found.add(Candidate(key, " + ".join(terms32), raw, where, "table, rows summed", 0,
                        status=status), *lines)
    if sized and not key.endswith("_doubled"):
        found.add(Candidate(f"{key}_doubled", " + ".join(terms64), raw, where,
                            "table, rows summed, in W and H at 64×64", 3, status="evaluated"),
                  *lines)


def size_columns(line: Line) -> dict[int, bool] | None:
    """A header over rows named by quantity: which value columns are the doubled input."""
    if len(line.cells) < 2 or quantities_in(line.cells[0].text):
        return None
    marks = {i: mentions_doubling(c.text) for i, c in enumerate(line.cells) if i}
    if not any(marks.values()) and not any(mentions_original(c.text) for c in line.cells):
        return None
    return marks


def row_line(found: Found, line: Line, index: int, sizes: dict[int, bool] | None,
             doubled_here: bool) -> bool:
    """A row named by its quantity (``| Weights | k²(...) | unchanged |``)."""
    if len(line.cells) < 2:
        return False
    named = quantities_in(line.cells[0].text)
    if len(named) != 1 or prose_words(line.cells[0].text) > 6:
        return False
    label = line.cells[0].text
    for i, cell in enumerate(line.cells[1:], start=1):
        if sizes is not None:
            doubled = sizes.get(i, False)
        elif i == 1:
            doubled = mentions_doubling(label) or doubled_here
        else:
            break
        key = named[0] + ("_doubled" if doubled else "")
        from_value(found, key, cell.text, line.text, line.where, "table row",
                   bool(TOTAL.search(label)), True, (index,))
    return True

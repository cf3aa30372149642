"""A CSV that Canvas's gradebook import ("Import" in the Gradebook) accepts.

Layout, the same as Canvas's own gradebook export so a TA can diff the two:

    Student, ID, SIS User ID, SIS Login ID, Section, <Assignment> (<canvas assignment id>)
    Points Possible, , , , , <points possible>
    <name>, <canvas id>, <sis user id>, <sis login id>, <section>, <score>

Why this layout: Canvas identifies a student by the ID / SIS columns and an assignment by the
"(id)" suffix of its column header; without an id it offers to create a new assignment of that
name, and reads its points from the "Points Possible" row. The grade is the final score (after
a late penalty or a staff override), scaled to the points possible. Canvas ignores blank grade
cells, so a grade that would mislead is written blank and its Canvas grade left untouched for
a TA (the rule every export shares: `grader.reports.withheld`): a grader failure, a submission
that could not be graded (unless `zero_errors=True`), checks awaiting a TA's review, and a run
that did not assess every question (`--checks static`).

Who is who. A submission read from a Canvas download (`origin.layout == "canvas"`) has the
Canvas user id as its student id, which is exactly Canvas's `ID` column: it is written there,
with the name Canvas gave. Other student ids come from file names (usually a UTORid or
student number) and are written as the SIS Login ID. With a roster (a Canvas gradebook export,
or any CSV with some of the columns above) each id is matched, case-insensitively: a Canvas
user id against `ID` only (it is never a SIS id, so trying those could only find the wrong
person), any other id against SIS Login ID, then SIS User ID, then ID. A matched row copies the
roster's identity columns. Unmatched students are still written and listed in
`frame.attrs["unmatched"]` so they can be fixed before importing.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from grader.files import atomic_write_text
from grader.reports.dashboard import sort_key
from grader.reports.exports import ExportContext, ExportOption, exporter
from grader.reports.withheld import withheld
from grader.result import Result

IDENTITY = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
MATCH_ORDER = ["SIS Login ID", "SIS User ID", "ID"]
CANVAS_MATCH_ORDER = ["ID"]

RosterRow = dict[str, str]


def assignment_header(name: str, assignment_id: int | str | None = None) -> str:
    return f"{name} ({assignment_id})" if assignment_id not in (None, "") else name


@dataclass(frozen=True)
class Roster:
    """A roster's rows by column and lower-cased value; None marks a value two rows share,
    which is never guessed between."""

    columns: dict[str, dict[str, RosterRow | None]]

    def __bool__(self) -> bool:
        return any(self.columns.values())

    def match(self, student: str, order: list[str]) -> RosterRow | None:
        """The row of `student`, trying `order`'s columns in turn: the first column that knows
        the id decides, even when it knows it as ambiguous."""
        key = student.lower()
        for column in order:
            found = self.columns.get(column, {})
            if key in found:
                return found[key]
        return None


def read_roster(path: Path) -> Roster:
    """The roster of a Canvas gradebook export (or any CSV with some identity columns)."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = [{k.strip(): (v or "").strip() for k, v in row.items() if k}
                for row in csv.DictReader(handle)]
    rows = [row for row in rows
            if row.get("Student", "").lower() not in ("points possible", "test student")]
    columns: dict[str, dict[str, RosterRow | None]] = {}
    for column in MATCH_ORDER:
        hits: dict[str, list[RosterRow]] = defaultdict(list)
        for row in rows:
            key = row.get(column, "").lower()
            if key:
                hits[key].append(row)
        columns[column] = {key: found[0] if len(found) == 1 else None
                           for key, found in hits.items()}
    return Roster(columns)


def canvas_grade(result: Result, points_possible: float, zero_errors: bool = False
                 ) -> float | str:
    """The final grade scaled to `points_possible`, or "" (Canvas leaves the grade untouched)
    when it would mislead (see `grader.reports.withheld`)."""
    if withheld(result, zero_errors=zero_errors) is not None:
        return ""
    if not result.max_score:
        return 0.0
    return round(result.final_score / result.max_score * points_possible, 2)


def _identity(result: Result, roster: Roster) -> tuple[dict[str, str], bool]:
    """The identity columns of one row, and whether the roster knew the student."""
    origin = result.submission.origin
    from_canvas = origin.layout == "canvas"
    order = CANVAS_MATCH_ORDER if from_canvas else MATCH_ORDER
    person = roster.match(result.student, order) if roster else None
    if person is not None:
        return {k: person.get(k, "") for k in IDENTITY}, True
    identity = {**dict.fromkeys(IDENTITY, ""), "Student": origin.name or result.student}
    identity["ID" if from_canvas else "SIS Login ID"] = result.student
    return identity, False


def export_canvas(results: list[Result], path: Path, *, assignment_name: str,
                  points_possible: float, roster: Path | None = None,
                  assignment_id: int | str | None = None,
                  zero_errors: bool = False) -> pd.DataFrame:
    """Write a Canvas gradebook-import CSV; grades are final scores scaled to
    `points_possible`.

    `frame.attrs["unmatched"]` lists students not in the roster and `frame.attrs["blank"]`
    those whose grade was left blank (see `canvas_grade`), so both can be fixed first.
    """
    header = assignment_header(assignment_name, assignment_id)
    lookup = read_roster(Path(roster)) if roster else Roster({})
    rows: list[dict[str, object]] = [{**dict.fromkeys(IDENTITY, ""), "Student": "Points Possible",
                                      header: points_possible}]
    unmatched: list[str] = []
    blank: list[str] = []
    for r in sorted(results, key=sort_key):
        identity, known = _identity(r, lookup)
        if lookup and not known:
            unmatched.append(r.student)
        grade = canvas_grade(r, points_possible, zero_errors)
        if grade == "":
            blank.append(r.student)
        rows.append({**identity, header: grade})
    frame = pd.DataFrame(rows, columns=[*IDENTITY, header])
    frame.attrs["unmatched"] = unmatched
    frame.attrs["blank"] = blank
    atomic_write_text(Path(path), frame.to_csv(index=False, quoting=csv.QUOTE_MINIMAL))
    return frame


@exporter("canvas", help="canvas.csv in Canvas's gradebook-import layout",
          options=(ExportOption("--canvas-roster", type=Path, metavar="CSV",
                                help="Canvas gradebook export used to match students to "
                                     "Canvas ids"),
                   ExportOption("--canvas-assignment-id", metavar="ID",
                                help="the Canvas assignment id (else Canvas offers to create "
                                     "a new assignment)")))
def _export(results: list[Result], context: ExportContext) -> Path:
    path = context.out / "canvas.csv"
    export_canvas(results, path, assignment_name=context.rubric_title,
                  points_possible=context.max_score,
                  roster=context.options.get("canvas_roster"),
                  assignment_id=context.options.get("canvas_assignment_id"),
                  zero_errors=context.zero_errors)
    return path

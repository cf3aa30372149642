"""A CSV that Canvas's gradebook import ("Import" in the Gradebook) accepts.

Layout, the same as Canvas's own gradebook export so a TA can diff the two:

    Student, ID, SIS User ID, SIS Login ID, Section, <Assignment> (<canvas assignment id>)
    Points Possible, , , , , <points possible>
    <name>, <canvas id>, <sis user id>, <sis login id>, <section>, <score>

Why this layout: Canvas identifies a student by the ID / SIS columns and an assignment by the
"(id)" suffix of its column header; without an id it offers to create a new assignment of that
name, and reads its points from the "Points Possible" row. Canvas ignores blank grade cells,
so a submission that could not be graded is written blank (its Canvas grade is left untouched
for a TA to decide) unless `zero_errors=True`; so is a grader failure, and so is every grade of a
run that did not assess every question (`--checks static`): a partial total is not a grade.

Our student ids come from file names (usually a UTORid or student number). With a roster (a
Canvas gradebook export, or any CSV with some of the columns above) each id is matched,
case-insensitively, against SIS Login ID, then SIS User ID, then ID, and the Canvas identity
columns are copied from the roster. Unmatched students are still written, with our id as the
SIS Login ID, and listed in `frame.attrs["unmatched"]` so they can be fixed before importing.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import pandas as pd

from grader.files import atomic_write_text
from grader.reports.dashboard import sort_key
from grader.reports.exports import ExportContext, ExportOption, exporter
from grader.result import Result

IDENTITY = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
MATCH_ORDER = ["SIS Login ID", "SIS User ID", "ID"]


def assignment_header(name: str, assignment_id: int | str | None = None) -> str:
    return f"{name} ({assignment_id})" if assignment_id not in (None, "") else name


def read_roster(path: Path) -> dict[str, dict[str, str]]:
    """Lookup from a lower-cased identifier to the roster row holding it.

    An identifier that names two different rows is dropped rather than guessed.
    """
    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = [{k.strip(): (v or "").strip() for k, v in row.items() if k}
                for row in csv.DictReader(handle)]
    rows = [row for row in rows
            if row.get("Student", "").lower() not in ("points possible", "test student")]
    lookup: dict[str, dict[str, str] | None] = {}
    for column in MATCH_ORDER:  # an earlier column claims an identifier first
        hits: dict[str, list[dict[str, str]]] = defaultdict(list)
        for row in rows:
            key = row.get(column, "").lower()
            if key:
                hits[key].append(row)
        for key, found in hits.items():
            if key not in lookup:
                lookup[key] = found[0] if len(found) == 1 else None  # never guess
    return {key: row for key, row in lookup.items() if row is not None}


def canvas_grade(result: Result, points_possible: float, zero_errors: bool = False
                 ) -> float | str:
    """The grade to upload, or "" (Canvas leaves the grade untouched) when it would mislead:
    a grader failure, a submission that could not be graded (unless `zero_errors`), or a run
    that did not assess every question (a static run's total is not the grade)."""
    if result.status == "internal" or (result.status == "error" and not zero_errors):
        return ""
    if result.status == "graded" and not result.complete:
        return ""
    if not result.max_score:
        return 0.0
    return round(result.score / result.max_score * points_possible, 2)


def export_canvas(results: list[Result], path: Path, *, assignment_name: str,
                  points_possible: float, roster: Path | None = None,
                  assignment_id: int | str | None = None,
                  zero_errors: bool = False) -> pd.DataFrame:
    """Write a Canvas gradebook-import CSV; grades are scaled to `points_possible`.

    `frame.attrs["unmatched"]` lists students not in the roster and `frame.attrs["blank"]`
    those whose grade was left blank (see `canvas_grade`), so both can be fixed first.
    """
    header = assignment_header(assignment_name, assignment_id)
    lookup = read_roster(Path(roster)) if roster else {}
    rows: list[dict[str, object]] = [{**dict.fromkeys(IDENTITY, ""), "Student": "Points Possible",
                                      header: points_possible}]
    unmatched: list[str] = []
    blank: list[str] = []
    for r in sorted(results, key=sort_key):
        person = lookup.get(r.student.lower())
        if person is None:
            if lookup:
                unmatched.append(r.student)
            identity = {**dict.fromkeys(IDENTITY, ""), "Student": r.student,
                        "SIS Login ID": r.student}
        else:
            identity = {k: person.get(k, "") for k in IDENTITY}
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
                  assignment_id=context.options.get("canvas_assignment_id"))
    return path

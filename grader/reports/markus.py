"""markus.csv: grades in one of the two CSV layouts MarkUs imports.

`spreadsheet` (default) is a marks spreadsheet ("grade entry form") upload: the final grade
of each student in one column, named after the assignment:

    User name, <item>
    Out Of,    <rubric points>
    <user_name>, <final score>

MarkUs keys each row on its first cell, the student's user_name, and turns a column into an
item only when its second-row cell is a number >= 0 (so "User name" / "Out Of" are ignored).
Why one column and not one per question: MarkUs's total is the sum of the items and a grade
cell cannot be negative, so a late penalty or a staff deduction could not be expressed beside
per-question items; and a `Total` column is either dropped or becomes an item of its own. The
one column holds `final_score`, the grade. The per-question marks are the `criteria` layout's.

`criteria` is an assignment's marks upload (MarkUs's "Upload grades" of an assignment), shaped
like MarkUs's own summary export:

    Group name, User Name, Total Mark, <criterion>..., Bonus/Deductions
    ,           Out Of,    <points>,   <out of>...,
    <group>,    <user>,    <sum>,      <mark>...,     <adjustments, not imported>

MarkUs keys each row on `Group name` (for an individual assignment, the student's user_name,
which is the student id a MarkUs download gives), skips the second row because its group name
is blank, ignores the `User Name`, `Total Mark` and `Bonus/Deductions` columns, and rejects the
whole file when any other header is not exactly one of the assignment's criteria. Criteria are
named after the rubric's question ids unless `--markus-criteria` maps them. A criterion mark is
what the question's checks earned: MarkUs computes the total, and a deduction cannot be
imported, so a late penalty is left to MarkUs's own late rules (its submission rule) or a TA's
deduction there. It is written in `Bonus/Deductions`, which MarkUs ignores, so the TA sees it.

A cell is blank where a number would mislead (the rule every export shares:
`grader.reports.withheld`). MarkUs reads a blank as "no grade": uploading with "overwrite"
clears the grade there (and marks an assignment's result incomplete), uploading without it
leaves the grade as it is. docs/exports.md has the upload steps.
"""

from __future__ import annotations

import argparse
import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from grader.files import atomic_write_text
from grader.reports.dashboard import question_order, sort_key
from grader.reports.exports import ExportContext, ExportOption, exporter
from grader.reports.withheld import question_withheld, withheld
from grader.result import Result

FORMATS = ("spreadsheet", "criteria")
# Headers MarkUs writes itself and ignores on import (its English labels).
USER_NAME = "User name"            # a marks spreadsheet's first identity column
OUT_OF = "Out Of"
GROUP_NAME = "Group name"
CRITERIA_USER_NAME = "User Name"   # an assignment summary's student column
TOTAL_MARK = "Total Mark"
BONUS = "Bonus/Deductions"
RESERVED = {GROUP_NAME, CRITERIA_USER_NAME, TOTAL_MARK, BONUS, "Section", "Last Name",
            "First Name", "ID number", "Email"}


class MarkusOptionError(argparse.ArgumentTypeError, ValueError):
    """A MarkUs option that cannot be used: argparse shows its message; callers in Python may
    catch it as a ValueError."""


def markus_format(text: str) -> str:
    """`--markus-format`: one of FORMATS."""
    value = str(text).strip().lower()
    if value not in FORMATS:
        raise MarkusOptionError(f"unknown MarkUs format {text!r}; choose {' or '.join(FORMATS)}")
    return value


def item_name(text: str) -> str:
    """`--markus-item`: a marks spreadsheet column name MarkUs will not drop or misread."""
    name = str(text).strip()
    if not name or name == "Total":
        raise MarkusOptionError(f"{text!r} cannot name a marks spreadsheet column (MarkUs "
                                "drops a last column named Total)")
    return name


@dataclass(frozen=True)
class Criterion:
    """The MarkUs criterion a rubric question is uploaded as; `out_of` None: the question's
    own points, else marks are rescaled to it (MarkUs rejects a mark above the criterion's
    maximum)."""

    question: str
    name: str
    out_of: float | None = None


def read_criteria(path: str | Path) -> dict[str, Criterion]:
    """`--markus-criteria`: a CSV with columns `question,criterion[,out_of]`. A question it
    does not name is left out of the upload (its criterion in MarkUs is untouched)."""
    path = Path(path)
    if not path.is_file():
        raise MarkusOptionError(f"criteria file {path} does not exist")
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = {(c or "").strip().lower() for c in reader.fieldnames or ()}
        if not {"question", "criterion"} <= columns:
            raise MarkusOptionError(f"{path}: needs columns 'question' and 'criterion' (and "
                                    f"optionally 'out_of'); found {sorted(columns)}")
        out: dict[str, Criterion] = {}
        names: set[str] = set()
        for number, raw in enumerate(reader, start=2):
            row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
            question, name = row.get("question", ""), row.get("criterion", "")
            if not question:
                continue
            where = f"{path}:{number}"
            if not name or name in RESERVED:
                raise MarkusOptionError(f"{where}: {name!r} cannot name a MarkUs criterion")
            if question in out or name in names:
                raise MarkusOptionError(f"{where}: question {question} or criterion {name!r} "
                                        "is named twice")
            try:
                out_of = float(row["out_of"]) if row.get("out_of") else None
            except ValueError:
                raise MarkusOptionError(f"{where}: out_of {row['out_of']!r} is not a number") \
                    from None
            if out_of is not None and out_of <= 0:
                raise MarkusOptionError(f"{where}: out_of must be above 0")
            out[question] = Criterion(question, name, out_of)
            names.add(name)
    return out


@dataclass
class MarkusExport:
    """What was written, and what a TA should check before uploading it."""

    path: Path
    format: str
    rows: list[list[str]]
    blank: dict[str, str] = field(default_factory=dict)        # student -> why withheld
    not_imported: dict[str, float] = field(default_factory=dict)  # student -> adjustment points


def _number(value: float) -> str:
    """A plain decimal MarkUs parses as a float: 2.5, 0.4167, 3 (never 2.50000 or 1e-05)."""
    text = f"{round(value, 4):.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def spreadsheet_rows(results: list[Result], item: str, max_score: float, *,
                     zero_errors: bool = False) -> tuple[list[list[str]], dict[str, str]]:
    """The marks spreadsheet: header, out-of row, one row per student; and the blanks."""
    rows = [[USER_NAME, item], [OUT_OF, _number(max_score)]]
    blank: dict[str, str] = {}
    for r in sorted(results, key=sort_key):
        why = withheld(r, zero_errors=zero_errors)
        if why is not None:
            blank[r.student] = why.reason
        rows.append([r.student, "" if why else _number(r.final_score)])
    return rows, blank


def default_criteria(results: list[Result]) -> dict[str, Criterion]:
    """A criterion per rubric question, named by its id, in rubric order."""
    return {qid: Criterion(qid, qid) for qid, _ in question_order(results)}


def criteria_rows(results: list[Result], criteria: dict[str, Criterion], *,
                  zero_errors: bool = False
                  ) -> tuple[list[list[str]], dict[str, str], dict[str, float]]:
    """The assignment marks upload: header, out-of row, one row per student; the blanks;
    and the adjustments the upload cannot carry."""
    points = {q.id: q.max_score for r in results for q in r.questions}
    chosen = [(qid, c) for qid, c in criteria.items() if qid in points]
    outs = [c.out_of if c.out_of is not None else points[qid] for qid, c in chosen]
    rows = [[GROUP_NAME, CRITERIA_USER_NAME, TOTAL_MARK, *(c.name for _, c in chosen), BONUS],
            ["", OUT_OF, _number(sum(outs)), *map(_number, outs), ""]]
    blank: dict[str, str] = {}
    not_imported: dict[str, float] = {}
    for r in sorted(results, key=sort_key):
        marks: list[float | None] = []
        for (qid, _), out_of in zip(chosen, outs, strict=True):
            question = r.question(qid)
            why = question_withheld(r, question, zero_errors=zero_errors)
            if why is not None:
                blank.setdefault(r.student, why.reason)
                marks.append(None)
                continue
            earned = question.score if question is not None else 0.0
            scale = out_of / points[qid] if points[qid] else 0.0
            marks.append(min(out_of, max(0.0, earned * scale)))
        cells = ["" if m is None else _number(m) for m in marks]
        total = "" if None in marks else _number(sum(m for m in marks if m is not None))
        adjustment = r.adjustment_points
        if adjustment:
            not_imported[r.student] = adjustment
        rows.append([r.student, r.student, total, *cells,
                     _number(adjustment) if adjustment else ""])
    return rows, blank, not_imported


def export_markus(results: list[Result], path: Path, *, format: str = "spreadsheet",
                  item: str, max_score: float, criteria: dict[str, Criterion] | None = None,
                  zero_errors: bool = False) -> MarkusExport:
    """Write markus.csv in `format` (FORMATS); `item` names the spreadsheet column, `criteria`
    maps question ids to MarkUs criteria (default: the ids themselves)."""
    format = markus_format(format)
    if format == "spreadsheet":
        rows, blank = spreadsheet_rows(results, item_name(item), max_score,
                                       zero_errors=zero_errors)
        export = MarkusExport(Path(path), format, rows, blank)
    else:
        rows, blank, not_imported = criteria_rows(
            results, criteria if criteria is not None else default_criteria(results),
            zero_errors=zero_errors)
        export = MarkusExport(Path(path), format, rows, blank, not_imported)
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    atomic_write_text(Path(path), buffer.getvalue())
    return export


@exporter("markus", help="markus.csv for MarkUs: a marks spreadsheet column with the final "
                         "grade, or an assignment's criteria marks (--markus-format)",
          options=(ExportOption("--markus-format", type=markus_format, metavar="FORMAT",
                                help="spreadsheet (default: one marks-spreadsheet column, the "
                                     "final grade) or criteria (an assignment's criteria "
                                     "marks, one column per question)"),
                   ExportOption("--markus-item", type=item_name, metavar="NAME",
                                help="the marks spreadsheet column (default: the rubric "
                                     "title)"),
                   ExportOption("--markus-criteria", type=read_criteria, metavar="CSV",
                                help="question,criterion[,out_of] rows naming the MarkUs "
                                     "criterion of each question (default: the question "
                                     "ids)")))
def _export(results: list[Result], context: ExportContext) -> Path:
    path = context.out / "markus.csv"
    criteria = context.options.get("markus_criteria")
    if isinstance(criteria, str | Path):
        criteria = read_criteria(criteria)
    export_markus(results, path, format=context.options.get("markus_format", "spreadsheet"),
                  item=context.options.get("markus_item") or context.rubric_title,
                  max_score=context.max_score, criteria=criteria,
                  zero_errors=context.zero_errors)
    return path

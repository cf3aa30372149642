"""gradebook.csv: one row per student, one column per question, in a stable order.

A question that was not assessed in the run (its checks did not run in this mode) is blank,
never 0, and `assessed_max` beside `max` says how many points the run could give. `total` is
what the checks earned; `adjustments` (a late penalty, a staff override) and `final` beside it
say what changed it and what is uploaded; `submitted_at` and `layout` say where the time came
from.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from grader.files import atomic_write_text
from grader.reports.dashboard import question_order, sort_key
from grader.reports.exports import ExportContext, exporter
from grader.reports.view import location
from grader.result import Result

FIXED = ["student", "total", "adjustments", "final", "assessed_max", "max", "status", "error",
         "review", "submitted_at", "layout"]


def _error_text(result: Result) -> str:
    """Why a row is not graded (students' own failures; grader failures say so plainly)."""
    error = result.error
    if result.status == "graded" or error is None:
        return ""
    where = location(error)
    return f"{error.kind}: {error.message}" + (f" ({where})" if where else "")


def _review(result: Result) -> str:
    """Why a TA should look at this row before releasing it ('' when nothing stands out)."""
    notes = []
    internal = [f"{q.id} {c.id}" for q, c in result.internal_checks]
    if result.status == "internal" and not internal:
        notes.append("grader failed on this submission")
    elif result.status == "error":
        notes.append("not graded")
    if internal:
        notes.append("internal: " + ", ".join(internal))
    review = [f"{q.id} {c.id} ({c.review_reason})"
              for q, c in result.needs_review]
    if review:
        notes.append("needs review: " + "; ".join(review))
    missing = result.unassessed_ids
    if missing and result.status == "graded":   # "not graded" already says it of the rest
        notes.append("not assessed in this run: " + ", ".join(missing))
    notes += [f"late: {a.reason}" for a in result.adjustments
              if a.kind == "late" and a.details.get("needs_review")]
    notes += [f"override not applied: no {a.target!r} ({a.details.get('source')})"
              for a in result.adjustments if a.details.get("orphaned")]
    return "; ".join(notes)


def _adjustments(result: Result) -> str:
    return "; ".join(f"{a.points:+.4g} {a.kind}"
                     + (f" {a.target}" if a.target and a.target != "total" else "")
                     + f": {a.reason}" for a in result.adjustments
                     if a.points or not a.details.get("needs_review"))


def gradebook_frame(results: list[Result]) -> pd.DataFrame:
    """The gradebook as a DataFrame (question columns hold points; blank = not assessed)."""
    ordered = sorted(results, key=sort_key)
    qids = [qid for qid, _ in question_order(ordered)]
    clash = set(qids) & set(FIXED)
    if clash:
        raise ValueError(f"question ids {sorted(clash)} clash with gradebook columns")
    rows = []
    for r in ordered:
        scores = {q.id: q.score for q in r.questions if q.assessed}
        assessed = r.assessed_max_score
        row: dict[str, object] = {"student": r.student}
        row.update({qid: scores.get(qid) for qid in qids})
        # A total is blank only when nothing was assessed by the grader's choice; a submission
        # that could not be read at all really scores 0.
        total = r.score if assessed or r.status == "error" else None
        row.update(total=total, adjustments=_adjustments(r),
                   final=r.final_score if total is not None else None, assessed_max=assessed,
                   max=r.max_score, status=r.status, error=_error_text(r), review=_review(r),
                   submitted_at=r.submission.origin.submitted_at or "",
                   layout=r.submission.origin.layout)
        rows.append(row)
    frame = pd.DataFrame(rows, columns=["student", *qids, *FIXED[1:]])
    numeric = [*qids, "total", "final", "assessed_max", "max"]
    frame[numeric] = frame[numeric].astype("float64").round(4)
    return frame


def write_gradebook(results: list[Result], path: Path) -> pd.DataFrame:
    """Write gradebook.csv (UTF-8, comma-separated) and return the same table.

    Columns: student, one per question id (rubric order), total, adjustments, final,
    assessed_max, max, status, error, review, submitted_at, layout. Rows that could not be
    graded keep their row, with blank cells and why.
    """
    frame = gradebook_frame(results)
    atomic_write_text(Path(path), frame.to_csv(index=False))
    return frame


@exporter("gradebook", always=True,
          help="gradebook.csv: a row per student, a column per question (always written)")
def _export(results: list[Result], context: ExportContext) -> Path:
    path = context.out / "gradebook.csv"
    write_gradebook(results, path)
    return path

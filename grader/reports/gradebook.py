"""gradebook.csv: one row per student, one column per question, in a stable order."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from grader.reports.dashboard import classify, question_order, sort_key
from grader.reports.view import location

FIXED = ["student", "total", "max", "status", "error", "review"]


def _error_text(result: dict) -> str:
    error = result.get("error") or {}
    if result.get("status") != "error" or not error:
        return ""
    where = location(error)
    return f"{error.get('kind', 'error')}: {error.get('message', '')}" + (
        f" ({where})" if where else "")


def _review(result: dict) -> str:
    """Why a TA should look at this row before releasing it ('' when nothing stands out)."""
    notes = []
    kind = classify(result)
    if kind == "internal":
        notes.append("grader failed on this submission")
    elif kind == "error":
        notes.append("not graded")
    internal = [f"{q.get('id')} {c.get('id')}" for q in result.get("questions") or []
                for c in q.get("checks") or [] if c.get("status") == "internal"]
    if internal:
        notes.append("internal: " + ", ".join(internal))
    if result.get("checks_mode") == "static":
        notes.append("static checks only")
    return "; ".join(notes)


def gradebook_frame(results: list[dict]) -> pd.DataFrame:
    """The gradebook as a DataFrame (question columns hold points; blank = not graded)."""
    ordered = sorted(results, key=sort_key)
    qids = [qid for qid, _ in question_order(ordered)]
    clash = set(qids) & set(FIXED)
    if clash:
        raise ValueError(f"question ids {sorted(clash)} clash with gradebook columns")
    rows = []
    for r in ordered:
        scores = {str(q.get("id")): float(q.get("score") or 0) for q in r.get("questions") or []}
        row: dict[str, object] = {"student": str(r.get("student", ""))}
        row.update({qid: scores.get(qid) for qid in qids})
        row.update(total=float(r.get("score") or 0), max=float(r.get("max_score") or 0),
                   status=r.get("status", "graded"), error=_error_text(r), review=_review(r))
        rows.append(row)
    frame = pd.DataFrame(rows, columns=["student", *qids, *FIXED[1:]])
    numeric = [*qids, "total", "max"]
    frame[numeric] = frame[numeric].astype("float64").round(4)
    return frame


def write_gradebook(results: list[dict], path: Path) -> pd.DataFrame:
    """Write gradebook.csv (UTF-8, comma-separated) and return the same table.

    Columns: student, one per question id (rubric order), total, max, status, error, review.
    Students whose status is "error" keep their row, with blank question cells and the reason.
    """
    frame = gradebook_frame(results)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return frame

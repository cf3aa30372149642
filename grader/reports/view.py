"""What a reader may see of a result: the one place where hidden-check rules are applied.

Every renderer (HTML report, terminal summary, Gradescope export) builds on `student_view`, so a
hidden check's name, message or details can never leak through one output and not another. The
templates receive only this filtered view, never the raw result.

Rules for the student audience (the TA audience sees everything, labelled):

- public checks, and hidden checks with `feedback: full`: everything;
- hidden, `feedback: verdict`: title, verdict and points; no message, no details;
- hidden, `feedback: none`: removed. Its points stay inside the question's total (the total is
  what the student is graded on) and the question says how many checks are not shown, so the
  arithmetic on the page never looks wrong.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from grader.checks.registry import find
from grader.ingest.problems import Problem
from grader.result import CheckResult, Result

AUDIENCES = ("student", "ta")

STATUS = {
    # status: (label, icon, css class, plain-language meaning)
    "passed": ("Passed", "✓", "pass", "This check passed."),
    "partial": ("Partial credit", "◐", "partial", "Partly right: some credit was given."),
    "failed": ("Failed", "✗", "fail", "This check did not pass."),
    "error": ("Your code failed", "!", "error",
              "Your code raised an error, ran out of time or ran out of memory here."),
    "skipped": ("Not run", "–", "skip", "Not run in this grading mode."),
    "internal": ("Grader problem", "?", "internal",
                 "The grader could not complete this check. This is not your fault and does "
                 "not count against you once reviewed: course staff are told about every such "
                 "case."),
    "review": ("Needs review", "⏸", "review",
               "The grader could not judge this check automatically. A TA will look at it; "
               "until then it earns no points and costs none."),
}

PROBLEM_KIND = {
    "syntax": "Syntax error", "missing": "Missing definition",
    "exception": "Your code raised an exception", "timeout": "Time limit exceeded",
    "memory": "Memory limit exceeded", "crashed": "The Python process crashed",
    "corrupt": "The submission could not be read", "limit": "Output limit exceeded",
    "internal": "The grader failed on this submission",
}

def status_key(check: CheckResult) -> str:
    """The display status: `failed` with some credit reads as `partial`."""
    if check.status == "failed" and check.score > 1e-12:
        return "partial"
    return check.status if check.status in STATUS else "internal"


def check_title(check: CheckResult) -> str:
    """The rubric's title for the check, else its kind's title and its target."""
    if check.title:
        return check.title
    kind = find(check.kind)
    base = kind.title if kind else check.kind.replace("_", " ").capitalize()
    return f"{base} ({check.target})" if check.target else base


def disclosure(check: CheckResult, audience: str) -> str:
    """`full`, `verdict` or `none`: how much of this check the audience may see."""
    if audience == "ta" or check.visibility != "hidden":
        return "full"
    return check.feedback if check.feedback in ("full", "verdict", "none") else "none"


def _check_view(check: CheckResult, level: str, audience: str, anchor: str) -> dict[str, Any]:
    key = status_key(check)
    label, icon, css, meaning = STATUS[key]
    hidden = check.visibility == "hidden"
    kind = find(check.kind)
    view: dict[str, Any] = {
        "anchor": anchor, "id": check.id, "kind": check.kind,
        "target": check.target, "title": check_title(check), "status": check.status,
        "status_key": key, "label": label, "icon": icon, "css": css,
        "score": check.score, "max_score": check.max_score,
        "level": level, "hidden": hidden, "feedback": check.feedback,
        "explains": kind.explains if kind else "",
        "view": kind.view_name if kind else None,
        "meaning": meaning, "message": None, "details": {}, "problem": None, "tag": None,
    }
    if hidden:
        view["tag"] = ("hidden check" if audience == "student"
                       else f"hidden · students see: {check.feedback}")
    if level == "full":
        # Students never see the grader's own error text for an internal verdict.
        if key not in ("internal", "review") or audience == "ta":
            view["message"] = check.message or None
        view["details"] = check.details
        problem = check.problem
        view["problem"] = problem_view(problem) if problem else None
    else:
        view["meaning"] = "Hidden check: only its verdict is shared."
    return view


def question_anchor(qid: Any) -> str:
    return "q-" + "".join(ch if ch.isalnum() else "-" for ch in str(qid))


def problem_view(problem: Problem) -> dict[str, Any]:
    """A problem as the templates show it: its fields, a label and its place."""
    return {**problem.to_dict(), "label": PROBLEM_KIND.get(problem.kind, problem.kind),
            "where": location(problem)}


def student_view(result: Result, audience: str = "student") -> dict[str, Any]:
    """The filtered, display-ready form of a result for one audience."""
    if audience not in AUDIENCES:
        raise ValueError(f"audience must be one of {AUDIENCES}, not {audience!r}")
    questions = []
    counts = {k: 0 for k in STATUS}
    internal_total = 0
    for q in result.questions:
        anchor = question_anchor(q.id)
        checks, undisclosed = [], 0
        for i, c in enumerate(q.checks, 1):
            level = disclosure(c, audience)
            if c.status == "internal":
                internal_total += 1
            if level == "none":
                undisclosed += 1
                continue
            view = _check_view(c, level, audience, f"{anchor}-c{i}")
            counts[view["status_key"]] += 1
            checks.append(view)
        tally: dict[str, int] = {}
        for c in checks:
            tally[c["status_key"]] = tally.get(c["status_key"], 0) + 1
        assessed_max = q.assessed_max_score
        questions.append({"id": q.id, "title": q.title, "anchor": anchor,
                          "score": q.score, "max_score": q.max_score,
                          "assessed": q.assessed, "complete": q.complete,
                          "in_review": bool(q.review),
                          "assessed_max_score": assessed_max,
                          "fraction": q.score / assessed_max if assessed_max else 0.0,
                          "checks": checks, "undisclosed": undisclosed, "tally": tally})
    error = result.error if result.status in ("error", "internal") else None
    return {
        "audience": audience,
        "student": result.student,
        "status": result.status,
        "error": problem_view(error) if error else None,
        "error_label": PROBLEM_KIND.get(error.kind, "Not graded") if error else "Not graded",
        "grader_fault": result.status == "internal",
        "score": result.score, "max_score": result.max_score,
        "fraction": result.fraction,
        "assessed_max_score": result.assessed_max_score,
        "complete": result.complete,
        # What the score is out of: the points assessed in this run, or the rubric's when the
        # run assessed everything (or nothing at all).
        "out_of": result.assessed_max_score or result.max_score,
        "checks_mode": result.checks_mode,
        "questions": questions,
        "counts": counts,
        "internal_total": internal_total,
        "review_total": len(result.needs_review),
        "problems": [problem_view(p) for p in result.problems
                     if audience == "ta" or p.kind != "internal"],
        "neutralised": [{**n, "where": where_text(n.get("cell"), n.get("line"))}
                        for n in result.neutralised],
        "rubric": asdict(result.rubric),
        "submission": asdict(result.submission),
        "environment": dict(result.environment),
        "timings": dict(result.timings),
        "resources": dict(result.resources),
        "graded_at": result.graded_at,
        "key": result.key,
        "adjustments": [asdict(a) for a in result.adjustments],
        "final_score": result.final_score,
    }


ADJUSTMENT_LABEL = {"late": "Late penalty", "override": "Adjusted by course staff"}


# ------------------------------------------------------------------ formatting shared by outputs
def fmt_signed_points(value: Any) -> str:
    try:
        return f"{float(value):+.2f}".replace("-", "−")
    except (TypeError, ValueError):
        return "—"


def fmt_points(value: Any, digits: int = 2) -> str:
    try:
        return f"{float(value):.{digits}f}"
    except (TypeError, ValueError):
        return "—"


def fmt_when(value: Any) -> str:
    """An ISO timestamp as '2026-11-22 14:03 UTC' (unparseable text is shown as it is)."""
    from datetime import datetime, timezone

    if not value:
        return "—"
    try:
        stamp = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(timezone.utc)
    return stamp.strftime("%Y-%m-%d %H:%M") + (" UTC" if stamp.tzinfo else "")


def fmt_percent(fraction: float) -> str:
    return f"{100 * fraction:.0f} %"


def fmt_shape(shape: Any) -> str:
    if shape is None:
        return "—"
    if isinstance(shape, (list, tuple)):
        return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
    return str(shape)


def fmt_seconds(value: Any) -> str:
    try:
        s = float(value)
    except (TypeError, ValueError):
        return "—"
    if s < 1:
        return f"{s * 1000:.0f} ms"
    if s < 120:
        return f"{s:.1f} s"
    return f"{int(s // 60)} min {s % 60:02.0f} s"


def fmt_bytes(value: Any) -> str:
    try:
        b = float(value)
    except (TypeError, ValueError):
        return "—"
    for unit in ("B", "KB", "MB", "GB"):
        if b < 1000 or unit == "GB":
            return f"{b:.0f} {unit}" if unit in ("B", "KB") else f"{b:.1f} {unit}"
        b /= 1000
    return f"{b:.1f} GB"


def where_text(cell: int | None, line: int | None) -> str:
    """'cell 12, line 27' (or '' when there is no place in the notebook)."""
    parts = []
    if cell is not None:
        parts.append(f"cell {cell}")
    if line is not None:
        parts.append(f"line {line}")
    return ", ".join(parts)


def location(problem: Problem | None) -> str:
    """Where in the student's notebook a problem happened ('' when nowhere in particular)."""
    return where_text(problem.cell, problem.line) if problem is not None else ""

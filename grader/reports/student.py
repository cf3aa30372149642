"""The per-student report: one self-contained HTML page from one result.json."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from grader.checks.registry import find
from grader.reports.render import csp, render, write_atomic
from grader.reports.view import student_view
from grader.result import Result


def _figures(check: dict, root: Path) -> dict[str, Any]:
    """What the check's kind draws for its detail view (see grader.checks.registry)."""
    kind = find(str(check["kind"]))
    if kind is None or kind.figures_fn is None or not check["details"]:
        return {}
    return kind.figures_fn(check["details"], root)


def report_context(result: Result, *, audience: str = "student",
                   artifacts_root: Path | None = None) -> dict[str, Any]:
    page = student_view(result, audience)
    root = Path(artifacts_root) if artifacts_root is not None else Path(".")
    for q in page["questions"]:
        for c in q["checks"]:
            c["figures"] = _figures(c, root) if c["level"] == "full" else {}
    env = dict(page["environment"])
    page["isolation"] = env.pop("isolation", None) or {}
    page["seeds"] = env.pop("seeds", None) or {}
    page["env"] = env
    return page


def render_student_report(result: Result, out_dir: Path, *, audience: str = "student",
                          filename: str = "report.html",
                          artifacts_root: Path | None = None) -> Path:
    """Write `out_dir/report.html` for one student and return its path.

    `audience="student"` applies the rubric's hidden-check rules; `"ta"` shows everything.
    Relative artifact paths in the result (e.g. `details.samples`) are resolved against
    `artifacts_root`, by default `out_dir` (the student's folder in a batch); `grader check`
    writes `./grader-report.html` and passes the folder holding its artifacts.
    """
    out_dir = Path(out_dir)
    page = report_context(result, audience=audience,
                          artifacts_root=artifacts_root if artifacts_root is not None
                          else out_dir)
    html = render("report.html.j2", page=page, csp=csp(None),
                  generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    return write_atomic(out_dir / filename, html)

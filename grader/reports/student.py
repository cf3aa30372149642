"""The per-student report: one self-contained HTML page from one result.json."""

from __future__ import annotations

import base64
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from grader.reports import plots
from grader.reports.render import csp, render, write_atomic
from grader.reports.view import student_view
from grader.result import Result

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_PICTURE_BYTES = 4_000_000


def embed_png(relative: Any, root: Path) -> str | None:
    """A data: URI for a PNG artifact under `root`, or None when it is absent or not safe.

    The path comes from result.json and the file from a sandbox, so it must stay inside the
    student's folder and really be a PNG of sensible size before it is inlined.
    """
    if not isinstance(relative, str) or not relative:
        return None
    base = Path(root).resolve()
    path = (base / relative).resolve()
    if base not in path.parents or not path.is_file():
        return None
    data = path.read_bytes()
    if not data.startswith(PNG_MAGIC) or len(data) > MAX_PICTURE_BYTES:
        return None
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _figures(check: dict, root: Path) -> dict[str, Any]:
    """Plots and pictures for a fully disclosed check (accuracy curves, samples)."""
    details = check["details"]
    figures: dict[str, Any] = {}
    if check["kind"] == "accuracy" and details:
        figures["curves"] = plots.training_curves(
            details.get("curve"), details.get("reference_curve"),
            pass_at=details.get("pass_at"), zero_at=details.get("zero_at"))
        ref = [r for r in details.get("reference_val_acc") or [] if isinstance(r, (int, float))]
        if all(isinstance(details.get(k), (int, float))
               for k in ("val_acc", "pass_at", "zero_at")):
            figures["scale"] = plots.accuracy_scale(details["val_acc"], ref, details["pass_at"],
                                                    details["zero_at"])
        if details.get("samples"):
            figures["samples"] = embed_png(details["samples"], root)
            figures["samples_missing"] = figures["samples"] is None
    return figures


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

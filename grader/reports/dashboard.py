"""The class dashboard: one self-contained page summarising a batch of results for TAs."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

from grader import figures
from grader.ingest.problems import Problem
from grader.reports.render import TEMPLATES, csp, render, write_atomic
from grader.reports.view import PROBLEM_KIND, check_title, location
from grader.result import Result

SLOWEST = 8


def default_link(result: Result) -> str:
    """`<student folder>/report.html`, with the folder named exactly as the batch store names
    it (student ids can hold characters a folder name must not)."""
    from grader.files import safe_name

    return quote(safe_name(result.student)) + "/report.html"


def sort_key(result: Result) -> tuple[str, str]:
    return (result.student.casefold(), result.student)


def question_order(results: Iterable[Result]) -> list[tuple[str, str]]:
    """(id, title) of every question, in rubric order (first seen order across results)."""
    seen: dict[str, str] = {}
    for r in results:
        for q in r.questions:
            seen.setdefault(q.id, q.title)
    return list(seen.items())


def _first_problem(result: Result) -> Problem | None:
    if result.status != "graded" and result.error is not None:
        return result.error
    if result.problems:
        return result.problems[0]
    for q in result.questions:
        for c in q.checks:
            if c.status == "error":
                return c.problem or Problem("exception", c.message)
    return None


def summarise(results: list[Result]) -> dict[str, Any]:
    """Everything the dashboard shows, computed from the results alone."""
    results = sorted(results, key=sort_key)
    questions = question_order(results)
    status = Counter(r.status for r in results)
    graded = [r for r in results if r.status == "graded"]
    fractions = [r.fraction for r in graded if r.assessed_max_score]
    scores = [r.score for r in graded]

    per_question: dict[str, dict[str, Any]] = {
        qid: {"id": qid, "title": title, "n": 0, "sum": 0.0, "max": 0.0, "full": 0,
              "assessed": 0}
        for qid, title in questions}
    per_check: dict[tuple[str, str], dict[str, Any]] = {}
    internal: list[dict[str, Any]] = []
    review: list[dict[str, Any]] = []
    for r in results:
        for q, c in r.needs_review:
            review.append({"student": r.student, "result": r, "where": f"{q.id} · "
                           f"{check_title(c)}", "message": c.review_reason})
        for q in r.questions:
            row = per_question[q.id]
            row["max"] = max(row["max"], q.max_score)
            if q.assessed:
                row["n"] += 1
                row["assessed"] = max(row["assessed"], q.assessed_max_score)
                row["sum"] += q.score
                row["full"] += q.score >= q.assessed_max_score - 1e-9 and q.assessed_max_score > 0
            for c in q.checks:
                key = (q.id, c.id)
                entry = per_check.setdefault(key, {
                    "question": key[0], "id": key[1], "title": check_title(c),
                    "kind": c.kind, "hidden": c.visibility == "hidden",
                    "feedback": c.feedback, "counts": Counter()})
                entry["counts"][c.status] += 1
                if c.status == "internal":
                    internal.append({"student": r.student, "result": r,
                                     "where": f"{key[0]} · {entry['title']}",
                                     "message": c.message})
        if r.status == "internal" and r.error is not None and not r.internal_checks:
            internal.append({"student": r.student, "result": r, "where": "whole submission",
                             "message": r.error.message})
    for row in per_question.values():
        row["mean"] = row["sum"] / row["n"] if row["n"] else None
        row["fraction"] = (row["mean"] / row["assessed"]
                           if row["n"] and row["assessed"] else 0.0)
    for entry in per_check.values():
        c = entry["counts"]
        judged = c["passed"] + c["failed"] + c["error"]
        entry["judged"] = judged
        entry["rate"] = c["passed"] / judged if judged else 0.0

    failing = []
    for r in results:
        problem = _first_problem(r)
        if r.status == "error" or (problem and r.status == "graded"):
            failing.append({"student": r.student, "result": r,
                            "kind": PROBLEM_KIND.get(problem.kind, problem.kind)
                            if problem else "",
                            "where": location(problem),
                            "message": problem.message if problem else ""})
    rows = []
    for r in results:
        by_question = {q.id: q for q in r.questions}
        statuses = Counter(c.status for q in r.questions for c in q.checks)
        rows.append({"student": r.student, "result": r, "status": r.status,
                     "score": r.score, "max_score": r.max_score,
                     "assessed_max_score": r.assessed_max_score,
                     "fraction": r.fraction,
                     "questions": {qid: by_question.get(qid) for qid, _ in questions},
                     "wall": r.wall_s, "rss": r.resources.get("max_rss_bytes"),
                     "internal": statuses["internal"], "errors": statuses["error"],
                     "review": statuses["review"],
                     "late": r.late.points if r.late else None,
                     "problems": len(r.problems)})
    timed = [(r, r.wall_s) for r in results if r.wall_s is not None]
    slowest = sorted(timed, key=lambda rt: -rt[1])[:SLOWEST]
    checks_with_internal = sum(1 for i in internal if i["where"] != "whole submission")
    return {
        "results": results, "rows": rows, "questions": questions, "status": status,
        "n": len(results), "graded": len(graded),
        "fractions": fractions,
        "mean": statistics.fmean(scores) if scores else None,
        "median": statistics.median(scores) if scores else None,
        "max_score": max((r.max_score for r in results), default=0.0),
        "assessed_max_score": max((r.assessed_max_score for r in results), default=0.0),
        "complete": all(r.complete for r in graded) if graded else True,
        "per_question": list(per_question.values()),
        "per_check": list(per_check.values()),
        "internal": internal, "internal_checks": checks_with_internal, "review": review,
        "late": sum(r.late is not None for r in results),
        "students_with_internal": len({i["student"] for i in internal}),
        "internal_whole": len(internal) - checks_with_internal,
        "failing": failing,
        "slowest": [{"student": r.student, "result": r, "wall": t,
                     "rss": r.resources.get("max_rss_bytes")}
                    for r, t in slowest],
        "total_time": sum(t for _, t in timed),
    }


def batch_info(results: list[Result], batch: dict | None, rubric_title: str | None) -> dict:
    """When, what rubric, which mode, which environment and isolation; from `batch` when the
    batch stage passes it, otherwise derived from the results themselves."""
    batch = dict(batch or {})
    rubric = next((asdict(r.rubric) for r in results if r.rubric.id), {})
    modes = Counter(r.checks_mode for r in results)
    stamps = sorted(r.graded_at for r in results if r.graded_at)
    envs = [r.environment for r in results if r.environment]
    environment = dict(envs[0]) if envs else {}
    isolation_counts = Counter(
        str((r.environment.get("isolation") or {}).get("method", "not recorded"))
        for r in results)
    isolation = environment.pop("isolation", None) or next(
        (e["isolation"] for e in envs if e.get("isolation")), {})
    environment.pop("seeds", None)
    return {
        "title": rubric_title or rubric.get("title") or rubric.get("id") or "Class results",
        "rubric": rubric,
        "started": batch.get("started_at") or (stamps[0] if stamps else None),
        "finished": batch.get("finished_at") or (stamps[-1] if stamps else None),
        "wall_s": batch.get("wall_s"),
        "mode": batch.get("checks_mode") or ", ".join(f"{m} ({n})" if len(modes) > 1 else m
                                                      for m, n in modes.items()) or None,
        "workers": batch.get("workers"),
        "layout": batch.get("layout"),
        "command": batch.get("command"),
        "environment": environment,
        "isolation": isolation,
        "isolation_counts": dict(isolation_counts),
    }


def dashboard_script() -> str:
    return (TEMPLATES / "dashboard.js").read_text(encoding="utf-8")


def render_dashboard(results: list[Result], out_dir: Path, *, rubric_title: str | None = None,
                     batch: dict | None = None,
                     report_link: Callable[[Result], str] | None = None) -> Path:
    """Write `out_dir/index.html` for a batch and return its path.

    `batch` (optional) may carry started_at, finished_at, wall_s, checks_mode, workers,
    command, rubric and environment; anything missing is derived from the results.
    """
    summary = summarise(results)
    script = dashboard_script()
    html = render(
        "dashboard.html.j2", s=summary, info=batch_info(summary["results"], batch, rubric_title),
        link=report_link or default_link,
        histogram=figures.histogram(summary["fractions"]),
        script=script, csp=csp(script),
        similarity=(Path(out_dir) / "similarity.html").exists(),
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    return write_atomic(Path(out_dir) / "index.html", html)

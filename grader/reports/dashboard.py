"""The class dashboard: one self-contained page summarising a batch of results for TAs."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

from grader.reports import plots
from grader.reports.render import TEMPLATES, csp, render, write_atomic
from grader.reports.view import PROBLEM_KIND, check_title, location

SLOWEST = 8


def default_link(result: dict) -> str:
    """`<student folder>/report.html`, with the folder named exactly as the batch store names
    it (student ids can hold characters a folder name must not)."""
    from grader.batch.store import safe_name

    return quote(safe_name(str(result.get("student", "")))) + "/report.html"


def sort_key(result: dict) -> tuple[str, str]:
    student = str(result.get("student", ""))
    return (student.casefold(), student)


def classify(result: dict) -> str:
    """graded | error (the submission's fault) | internal (the grader's fault)."""
    if result.get("status") == "error":
        return "internal" if (result.get("error") or {}).get("kind") == "internal" else "error"
    return "graded"


def question_order(results: Iterable[dict]) -> list[tuple[str, str]]:
    """(id, title) of every question, in rubric order (first seen order across results)."""
    seen: dict[str, str] = {}
    for r in results:
        for q in r.get("questions") or []:
            seen.setdefault(str(q.get("id")), q.get("title", ""))
    return list(seen.items())


def _wall(result: dict) -> float | None:
    for value in ((result.get("timings") or {}).get("total_s"),
                  (result.get("resources") or {}).get("wall_s")):
        if isinstance(value, (int, float)):
            return float(value)
    return None


def _first_problem(result: dict) -> dict | None:
    if result.get("status") == "error":
        return result.get("error") or {"kind": "error", "message": "not graded"}
    problems = result.get("problems") or []
    if problems:
        return problems[0]
    for q in result.get("questions") or []:
        for c in q.get("checks") or []:
            if c.get("status") == "error":
                return {"kind": "error", "message": c.get("message", "")}
    return None


def summarise(results: list[dict]) -> dict[str, Any]:
    """Everything the dashboard shows, computed from the results alone."""
    results = sorted(results, key=sort_key)
    questions = question_order(results)
    status = Counter(classify(r) for r in results)
    graded = [r for r in results if classify(r) == "graded"]
    fractions = [float(r.get("score") or 0) / float(r["max_score"]) for r in graded
                 if r.get("max_score")]
    scores = [float(r.get("score") or 0) for r in graded]

    per_question: dict[str, dict[str, Any]] = {
        qid: {"id": qid, "title": title, "n": 0, "sum": 0.0, "max": 0.0, "full": 0}
        for qid, title in questions}
    per_check: dict[tuple[str, str], dict[str, Any]] = {}
    internal: list[dict[str, Any]] = []
    for r in results:
        for q in r.get("questions") or []:
            row = per_question[str(q.get("id"))]
            row["n"] += 1
            row["sum"] += float(q.get("score") or 0)
            row["max"] = max(row["max"], float(q.get("max_score") or 0))
            if q.get("max_score") and float(q.get("score") or 0) >= float(q["max_score"]) - 1e-9:
                row["full"] += 1
            for c in q.get("checks") or []:
                key = (str(q.get("id")), str(c.get("id")))
                entry = per_check.setdefault(key, {
                    "question": key[0], "id": key[1], "title": check_title(c),
                    "kind": c.get("kind"), "hidden": c.get("visibility") == "hidden",
                    "feedback": c.get("feedback", "full"),
                    "counts": Counter()})
                entry["counts"][c.get("status", "internal")] += 1
                if c.get("status") == "internal":
                    internal.append({"student": r.get("student"), "result": r,
                                     "where": f"{key[0]} · {entry['title']}",
                                     "message": c.get("message", "")})
        if classify(r) == "internal":
            internal.append({"student": r.get("student"), "result": r,
                             "where": "whole submission",
                             "message": (r.get("error") or {}).get("message", "")})
    for row in per_question.values():
        row["mean"] = row["sum"] / row["n"] if row["n"] else 0.0
        row["fraction"] = row["mean"] / row["max"] if row["max"] else 0.0
    for entry in per_check.values():
        c = entry["counts"]
        judged = c["passed"] + c["failed"] + c["error"]
        entry["judged"] = judged
        entry["rate"] = c["passed"] / judged if judged else 0.0

    failing = []
    for r in results:
        problem = _first_problem(r)
        if classify(r) == "error" or (problem and classify(r) == "graded"):
            failing.append({"student": r.get("student"), "result": r,
                            "kind": PROBLEM_KIND.get((problem or {}).get("kind", ""),
                                                     (problem or {}).get("kind", "")),
                            "where": location(problem),
                            "message": (problem or {}).get("message", "")})
    rows = []
    for r in results:
        by_question = {str(q.get("id")): q for q in r.get("questions") or []}
        statuses = Counter(c.get("status") for q in by_question.values()
                           for c in q.get("checks") or [])
        max_score = float(r.get("max_score") or 0)
        rows.append({"student": str(r.get("student", "")), "result": r, "status": classify(r),
                     "score": float(r.get("score") or 0), "max_score": max_score,
                     "fraction": float(r.get("score") or 0) / max_score if max_score else 0.0,
                     "questions": {qid: by_question.get(qid) for qid, _ in questions},
                     "wall": _wall(r), "rss": (r.get("resources") or {}).get("max_rss_bytes"),
                     "internal": statuses["internal"], "errors": statuses["error"],
                     "problems": len(r.get("problems") or [])})
    timed = [(r, _wall(r)) for r in results if _wall(r) is not None]
    slowest = sorted(timed, key=lambda rt: -rt[1])[:SLOWEST]
    checks_with_internal = sum(1 for i in internal if i["where"] != "whole submission")
    return {
        "results": results, "rows": rows, "questions": questions, "status": status,
        "n": len(results), "graded": len(graded),
        "fractions": fractions,
        "mean": statistics.fmean(scores) if scores else None,
        "median": statistics.median(scores) if scores else None,
        "max_score": max((float(r.get("max_score") or 0) for r in results), default=0.0),
        "per_question": list(per_question.values()),
        "per_check": list(per_check.values()),
        "internal": internal, "internal_checks": checks_with_internal,
        "students_with_internal": len({i["student"] for i in internal}),
        "failing": failing,
        "slowest": [{"student": r.get("student"), "result": r, "wall": t,
                     "rss": (r.get("resources") or {}).get("max_rss_bytes")}
                    for r, t in slowest],
        "total_time": sum(t for _, t in timed),
    }


def batch_info(results: list[dict], batch: dict | None, rubric_title: str | None) -> dict:
    """When, what rubric, which mode, which environment and isolation; from `batch` when the
    batch stage passes it, otherwise derived from the results themselves."""
    batch = dict(batch or {})
    rubric = batch.get("rubric") or next((r["rubric"] for r in results if r.get("rubric")), {})
    modes = Counter(r.get("checks_mode") for r in results if r.get("checks_mode"))
    stamps = sorted(r["graded_at"] for r in results if r.get("graded_at"))
    envs = [r["environment"] for r in results if r.get("environment")]
    environment = dict(batch.get("environment") or (envs[0] if envs else {}))
    isolation_counts = Counter(
        str((r.get("environment") or {}).get("isolation", {}).get("method", "not recorded"))
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
        "command": batch.get("command"),
        "environment": environment,
        "isolation": isolation,
        "isolation_counts": dict(isolation_counts),
    }


def dashboard_script() -> str:
    return (TEMPLATES / "dashboard.js").read_text(encoding="utf-8")


def render_dashboard(results: list[dict], out_dir: Path, *, rubric_title: str | None = None,
                     batch: dict | None = None,
                     report_link: Callable[[dict], str] | None = None) -> Path:
    """Write `out_dir/index.html` for a batch and return its path.

    `batch` (optional) may carry started_at, finished_at, wall_s, checks_mode, workers,
    command, rubric and environment; anything missing is derived from the results.
    """
    summary = summarise(results)
    script = dashboard_script()
    html = render(
        "dashboard.html.j2", s=summary, info=batch_info(summary["results"], batch, rubric_title),
        link=report_link or default_link, classify=classify,
        histogram=plots.histogram(summary["fractions"]),
        script=script, csp=csp(script),
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    return write_atomic(Path(out_dir) / "index.html", html)

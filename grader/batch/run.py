"""Grade a class: discover submissions, skip what is already graded, grade the rest in parallel,
then write every report, the gradebook, the dashboard and the exports.

Results are keyed by the content of the submission, the rubric, the reference, the grader
version and the options (`grader.pipeline.grading_key`), and each one is written atomically the
moment it arrives, so an interrupted batch (even `kill -9`) resumes where it stopped and ends
with the same gradebook as an uninterrupted one.
"""

from __future__ import annotations

import os
import shlex
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from grader.batch.jobs import Job, content_hash, read_payload
from grader.batch.progress import Progress
from grader.batch.store import ResultStore, safe_name
from grader.ingest.submission import discover, student_id
from grader.pipeline import Grader, GraderFactory, Options


@dataclass
class BatchSummary:
    total: int
    graded_now: int
    reused: int
    errors: int
    internal: int
    wall_s: float
    out: Path
    index: Path | None
    gradebook: Path | None
    ignored: list[tuple[str, str]] = field(default_factory=list)


def unique_students(paths: list[Path], pattern: str | None) -> list[tuple[str, Path]]:
    """(student id, path) pairs; a repeated id (alice.ipynb and alice.zip) gets a suffix."""
    seen: dict[str, int] = {}
    out = []
    for path in paths:
        who = student_id(path, pattern)
        key = safe_name(who).casefold()
        seen[key] = seen.get(key, 0) + 1
        out.append((who if seen[key] == 1 else f"{who}-{seen[key]}", path))
    return out


def make_jobs(paths: list[Path], grader: Grader) -> list[Job]:
    """One job per submission; an unreadable path still becomes a job (and an error row)."""
    jobs = []
    for student, path in unique_students(paths, grader.rubric.student_pattern):
        try:
            payload, is_folder = read_payload(path)
        except OSError as exc:
            payload, is_folder = f"unreadable: {exc}".encode(), False
        jobs.append(Job(student=student, name=path.name, payload=payload, is_folder=is_folder,
                        key=grader.key(content_hash(payload)), source=str(path)))
    return jobs


def write_student_outputs(result: dict[str, Any], folder: Path) -> None:
    """The student's report (hidden checks as the rubric allows) and the TA's full view."""
    from grader.reports.gradescope import export_gradescope
    from grader.reports.student import render_student_report

    render_student_report(result, folder, audience="student")
    render_student_report(result, folder, audience="ta", filename="report-ta.html")
    export_gradescope(result, folder / "results.json")


def write_class_outputs(results: list[dict[str, Any]], out: Path, grader: Grader,
                        batch: dict[str, Any], exports: tuple[str, ...] = (),
                        canvas_roster: Path | None = None) -> tuple[Path, Path]:
    from grader.reports.canvas import export_canvas
    from grader.reports.dashboard import render_dashboard
    from grader.reports.gradebook import write_gradebook

    gradebook = out / "gradebook.csv"
    write_gradebook(results, gradebook)
    index = render_dashboard(results, out, rubric_title=grader.rubric.title, batch=batch)
    if "canvas" in exports:
        export_canvas(results, out / "canvas.csv", assignment_name=grader.rubric.title,
                      points_possible=grader.rubric.max_score, roster=canvas_roster)
    return index, gradebook


def grade_batch(paths: list[str | Path], rubric: str, out: str | Path, options: Options, *,
                workers: int = 1, dask: str | None = None, quiet: bool = False,
                exports: tuple[str, ...] = (), canvas_roster: Path | None = None,
                regrade: bool = False, command: str | None = None) -> BatchSummary:
    """Grade every submission under `paths` into `out`; returns counts and output paths."""
    from grader.batch.dask import make_pool

    started = time.monotonic()
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    out = Path(out)
    store = ResultStore(out)
    found = discover(paths)
    planner = Grader(rubric, options=options)   # builds keys; its sandbox never starts
    jobs = make_jobs(list(found), planner)
    todo = [j for j in jobs if regrade or not store.is_current(j.student, j.key)]
    progress = Progress(total=len(jobs), done=len(jobs) - len(todo), quiet=quiet)
    threads = max(1, (os.cpu_count() or 1) // max(1, workers))
    factory = GraderFactory(str(planner.rubric.path or rubric),
                            Options(**{**options.__dict__, "threads": options.threads or threads,
                                       "gpu_jobs": max(1, workers)}),
                            compiled=planner.compiled)
    counts = {"graded": 0, "error": 0, "internal": 0}
    if todo and options.checks == "all":
        # The reference is trained once here, with every core, not once per worker.
        if not quiet:
            print("preparing the reference calibration (shipped for the synthetic data, else "
                  "trained once and cached)...",
                  file=sys.stderr, flush=True)
        planner.prepare(threads=os.cpu_count())
    if todo:
        pool = make_pool(factory, workers=workers, threads=threads, dask_address=dask)
        try:
            for _job, graded in pool.run(todo):
                store.save(graded.result, graded.artifacts)
                write_student_outputs(graded.result, store.student_dir(graded.result["student"]))
                word = progress.advance(graded.result)
                counts[word] += 1
                if not quiet and not progress.enabled:   # logs get one line per submission
                    r = graded.result
                    print(f"[{progress.done}/{len(jobs)}] {r['student']}: {word} "
                          f"{r.get('score', 0):.2f}/{r.get('max_score', 0):.2f} "
                          f"({(r.get('timings') or {}).get('total_s', 0):.1f} s)",
                          file=sys.stderr, flush=True)
        finally:
            progress.close()
            close = getattr(pool, "close", None)
            if close:
                close()
    results = store.results([j.student for j in jobs])
    missing = {j.student for j in jobs} - {r["student"] for r in results}
    if missing:  # never silently: a job that produced nothing is a row too
        raise RuntimeError(f"no result was stored for {sorted(missing)}")
    for result in results:   # reports of reused results may predate this grader version
        folder = store.student_dir(result["student"])
        if not (folder / "report.html").exists():
            write_student_outputs(result, folder)
    wall = time.monotonic() - started
    batch = {"started_at": started_at,
             "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
             "wall_s": round(wall, 2), "checks_mode": options.checks, "workers": workers,
             "engine": f"dask {dask}" if dask else "local processes",
             "command": command or shlex.join(sys.argv), "graded_now": len(todo),
             "reused": len(jobs) - len(todo)}
    index, gradebook = write_class_outputs(results, out, planner, batch, exports, canvas_roster)
    internal = sum(1 for r in results if (r.get("error") or {}).get("kind") == "internal"
                   or any(c.get("status") == "internal" for q in r.get("questions", [])
                          for c in q.get("checks", [])))
    return BatchSummary(total=len(jobs), graded_now=len(todo), reused=len(jobs) - len(todo),
                        errors=sum(1 for r in results if r.get("status") == "error"),
                        internal=internal, wall_s=wall, out=out, index=index,
                        gradebook=gradebook,
                        ignored=[(str(p), why) for p, why in getattr(found, "ignored", [])])

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
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from grader import faults
from grader.batch.jobs import GraderFactory, Job, internal_failure
from grader.batch.progress import Progress
from grader.batch.store import ResultStore
from grader.files import atomic_write_text, safe_name
from grader.ingest.layouts import Entry, Found, read_download
from grader.ingest.origin import Earlier
from grader.ingest.submission import payload_hash, read_payload, zip_members
from grader.late import LatePolicy, apply_late, parse_time
from grader.overrides import (
    Override,
    apply_overrides,
    find_overrides,
    read_overrides,
    unknown_students,
)
from grader.plan import Options, Plan
from grader.reports.exports import ExportContext, chosen
from grader.result import Result
from grader.stages.writeups import unclaimed_writeups, writeup_for


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
    failed_outputs: list[str] = field(default_factory=list)   # class files not written
    review: int = 0      # rows with checks awaiting a TA's review
    layout: str = "folder"
    layout_why: str = ""
    notes: list[str] = field(default_factory=list)            # what reading the download noticed
    late: int = 0        # rows with a late penalty line

    @property
    def needs_attention(self) -> bool:
        """Some rows are grader failures or await review, or a class output is missing."""
        return bool(self.internal or self.review or self.failed_outputs)


def _payload(entry: Entry) -> tuple[str, bytes, bool]:
    """(name ingest sees, bytes, is a folder) of an entry: one file or folder as handed in,
    or several files (a Canvas student's) as one folder under their original names."""
    if entry.single is not None:
        payload, is_folder = read_payload(entry.single)
        return entry.single.name, payload, is_folder
    if len(entry.paths) == 1:
        return entry.names[0], entry.paths[0].read_bytes(), False
    return entry.student, zip_members(list(zip(entry.names, entry.paths, strict=True))), True


def make_jobs(entries: list[Entry], plan: Plan, writeups: Path | None = None) -> list[Job]:
    """One job per entry; an unreadable path still becomes a job (and an error row). A
    write-up from the `writeups` folder travels with the job and is part of its key."""
    jobs = []
    for entry in entries:
        try:
            name, payload, is_folder = _payload(entry)
        except OSError as exc:
            name, payload, is_folder = entry.paths[0].name, f"unreadable: {exc}".encode(), False
        found = writeup_for(writeups, entry.student) if writeups is not None else None
        writeup = (found.name, found.read_bytes()) if found is not None else None
        keyed = payload if writeup is None else payload + b"\0writeup\0" + writeup[1]
        jobs.append(Job(student=entry.student, name=name, payload=payload, is_folder=is_folder,
                        key=plan.key(payload_hash(keyed)), writeup=writeup,
                        source=", ".join(str(p) for p in entry.paths),
                        rubric=plan.rubric_info(), origin=entry.origin))
    return jobs


def _latest_per_student(entries: list[Entry]) -> tuple[list[Entry], list[str]]:
    """One entry per student id: the latest by submission time where the layout knows it
    (the others become its `earlier`), else every entry kept (the folder layout suffixes)."""
    by_id: dict[str, list[Entry]] = {}
    for entry in entries:
        by_id.setdefault(safe_name(entry.student).casefold(), []).append(entry)
    kept, notes = [], []
    for group in by_id.values():
        if len(group) == 1 or not all(e.origin.submitted_at for e in group):
            kept.extend(group)
            continue
        group.sort(key=lambda e: parse_time(e.origin.submitted_at, "submitted_at"))
        latest = group[-1]
        earlier = [Earlier(path=", ".join(map(str, e.paths)),
                           submitted_at=e.origin.submitted_at, lms_id=e.origin.lms_id)
                   for e in group[:-1]]
        origin = replace(latest.origin, earlier=[*latest.origin.earlier, *earlier])
        kept.append(replace(latest, origin=origin))
        notes.append(f"{latest.student}: {len(group)} submissions; the latest "
                     f"({latest.origin.submitted_at}) graded")
    return kept, notes


@dataclass
class Outputs:
    """What a batch writes besides the results: the reports, the dashboard and the exports
    (every exporter marked always, and those asked for), with the exporters' options."""

    context: ExportContext
    exports: tuple[str, ...] = ()

    def write_student(self, result: Result, folder: Path) -> None:
        """The student's report (hidden checks as the rubric allows), the TA's full view, and
        each per-student export."""
        from grader.reports.student import render_student_report

        faults.point("report", result.student)
        render_student_report(result, folder, audience="student")
        render_student_report(result, folder, audience="ta", filename="report-ta.html")
        for export in chosen(self.exports, "student"):
            export.write(result, folder, self.context)

    def write_class(self, results: list[Result], batch: dict[str, Any]
                    ) -> tuple[dict[str, Path], list[Result], list[str]]:
        """The dashboard and each class export, each written even when another fails.

        A writer that fails because of one student's record is retried without it, after
        that row is turned into an `internal` row (which every writer can show). Returns the
        dashboard's path, the results as finally written, and what could not be written.
        """
        from grader.reports.dashboard import render_dashboard

        writers: list[tuple[str, Any]] = [
            (export.name, lambda rs, e=export: e.write(rs, self.context))
            for export in chosen(self.exports, "class")]
        writers.append(("dashboard", lambda rs: render_dashboard(
            rs, self.context.out, rubric_title=self.context.rubric_title, batch=batch)))
        failures: list[str] = []
        written: dict[str, Path] = {}
        for name, write in writers:
            try:
                written[name], results = _write_isolating(write, results)
            except _RowFailed as failed:
                results = failed.results
                failures.append(f"{name}: {failed.reason}")
        return written, results, failures


def save_student(store: ResultStore, outputs: Outputs, result: Result,
                 artifacts: dict[str, bytes]) -> Result:
    """Store a result and write its reports; a failure here makes the row `internal`, with a
    plain report for the student and the traceback for staff, and never reaches the batch."""
    try:
        store.save(result, artifacts)
        outputs.write_student(result, store.student_dir(result.student))
        return result
    except Exception as exc:
        failed = Result.internal_failure(
            student=result.student, submission=result.submission, rubric=result.rubric,
            message=f"the grader could not write this student's report: {exc!r}", exc=exc,
            previous=result)
        store.save(failed)
        write_plain_reports(failed, store.student_dir(failed.student))
        return failed


def write_plain_reports(result: Result, folder: Path) -> None:
    """Minimal reports written without templates, for a result the renderer failed on."""
    from grader.reports.plain import plain_report

    for audience, name in (("student", "report.html"), ("ta", "report-ta.html")):
        atomic_write_text(folder / name, plain_report(result, audience))


def _internal_row(write: Any, result: Result, exc: BaseException) -> Result:
    """The row a class output could not include, as an internal one: with its grades when
    the writer accepts that, else with nothing but the failure (which every writer can show)."""
    message = f"the class outputs could not include this student's result: {exc!r}"
    kept = Result.internal_failure(student=result.student, submission=result.submission,
                                   rubric=result.rubric, message=message, exc=exc,
                                   previous=result)
    try:
        write([kept])
        return kept
    except Exception:
        return Result.internal_failure(student=result.student, submission=result.submission,
                                       rubric=result.rubric, message=message, exc=exc,
                                       key=result.key)


class _RowFailed(Exception):
    def __init__(self, results: list[Result], reason: str) -> None:
        super().__init__(reason)
        self.results, self.reason = results, reason


def _write_isolating(write: Any, results: list[Result]) -> tuple[Any, list[Result]]:
    """`write(results)`; on failure, find the rows it fails on, make them internal, retry once.

    Returns what the writer returned and the results as written.
    """
    try:
        for result in results:
            faults.point("export", result.student)
        return write(results), results
    except Exception as first:
        fixed, bad = [], []
        for result in results:
            try:
                faults.point("export", result.student)
                write([result])
                fixed.append(result)
            except Exception as exc:
                bad.append(result.student)
                fixed.append(_internal_row(write, result, exc))
        if not bad:
            raise _RowFailed(results, repr(first)) from first
        try:
            return write(fixed), fixed
        except Exception as exc:
            raise _RowFailed(fixed, repr(exc)) from exc


def bring_up_to_date(result: Result, job: Job, policy: LatePolicy | None,
                     overrides: list[Override]) -> Result:
    """The result with what the download said about it (the job's origin), the staff
    overrides and the late line recomputed from today's files: a stored result is kept current
    without regrading."""
    result.submission.origin = job.origin
    return apply_late(apply_overrides(result, overrides), policy)


def _similarity(out: Path, entries: list[Entry], plan: Plan) -> list[str]:
    """The class's code-similarity page (a lead for a TA, never a deduction); its failure is
    reported like any class output's, never the batch's."""
    from grader.similarity import write_similarity

    try:
        faults.point("export", "similarity")
        write_similarity(out, entries, plan.rubric)
        return []
    except Exception as exc:
        return [f"similarity: {exc!r}"]


def late_policy(plan: Plan, extensions: str | Path | None) -> LatePolicy | None:
    policy = plan.rubric.late
    if extensions is None:
        return policy
    if policy is None:
        raise ValueError(f"--extensions {extensions}: the rubric {plan.rubric.id} has no late "
                         "policy (add a `late:` section with a deadline)")
    return policy.with_extensions(Path(extensions))


def points_line(result: Result) -> str:
    """`2.50/3.00`, or `2.50/3.00 assessed of 4.50` when the run left questions unassessed
    (a static run, no write-up), so a log never reads as lost points."""
    assessed = result.assessed_max_score
    if result.status == "graded" and assessed < result.max_score - 1e-9:
        return f"{result.score:.2f}/{assessed:.2f} assessed of {result.max_score:.2f}"
    return f"{result.score:.2f}/{result.max_score:.2f}"


def _unmatched_notes(staff: list[Override], writeups: str | Path | None,
                     students: list[str]) -> list[str]:
    """Overrides and write-ups that name no student of the class: said, never dropped."""
    notes = [f"override {o.where}: no student {o.student!r} in this class; not applied"
             for o in unknown_students(staff, students)]
    if writeups is not None:
        notes += [f"write-up {name} in {writeups}: no student of this class has that id; "
                  "not graded" for name in unclaimed_writeups(Path(writeups), students)]
    return notes


def grade_batch(paths: list[str | Path], rubric: str, out: str | Path, options: Options, *,
                workers: int = 1, dask: str | None = None, quiet: bool = False,
                exports: tuple[str, ...] = (), export_options: dict[str, Any] | None = None,
                regrade: bool = False, command: str | None = None, layout: str = "auto",
                extensions: str | Path | None = None,
                overrides: str | Path | None = None,
                writeups: str | Path | None = None,
                zero_errors: bool = False) -> BatchSummary:
    """Grade every submission under `paths` into `out`; returns counts and output paths.

    `layout` says how to read a download folder (grader.ingest.layouts; `auto` detects it);
    `exports` names the exporters to write besides those every batch writes
    (grader.reports.exports); `export_options` holds their options by keyword; `extensions`
    a CSV of per-student extensions for the rubric's late policy; `overrides` the staff
    overrides file (default: `overrides.yaml` or `.csv` in `out`); `writeups` a folder of
    write-ups named by student id (else write-ups are looked for beside each notebook);
    `zero_errors` uploads 0, not a blank, for a submission that could not be graded.
    """
    from grader.batch.dask import make_pool

    started = time.monotonic()
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    out = Path(out)
    store = ResultStore(out)
    planner = Plan(rubric, options)   # keys and what runs; no sandbox
    policy = late_policy(planner, extensions)
    overrides_file = find_overrides(out, overrides)
    staff = read_overrides(overrides_file) if overrides_file else []
    outputs = Outputs(ExportContext(out, planner.rubric.title, planner.rubric.max_score,
                                    dict(export_options or {}), zero_errors),
                      tuple(exports))
    chosen(outputs.exports, "class")   # an unknown export name fails before any grading
    found: Found = read_download([Path(p) for p in paths], layout,
                                 planner.rubric.student_pattern, scratch=out / ".downloads")
    entries, latest_notes = _latest_per_student(found.entries)
    if not quiet:
        print(f"layout: {found.layout} ({found.why}); {len(entries)} student(s)",
              file=sys.stderr, flush=True)
    if writeups is not None and not Path(writeups).is_dir():
        raise FileNotFoundError(f"--writeups {writeups}: no such folder")
    jobs = make_jobs(entries, planner, Path(writeups) if writeups is not None else None)
    by_student = {j.student: j for j in jobs}
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
        from grader.stages.training import TrainingStage

        TrainingStage(planner).prepare(threads=os.cpu_count())
    if todo:
        pool = make_pool(factory, workers=workers, threads=threads, dask_address=dask)
        try:
            for job, graded in pool.run(todo):
                result = save_student(store, outputs,
                                      bring_up_to_date(graded.result, job, policy, staff),
                                      graded.artifacts)
                word = progress.advance(result)
                counts[word] += 1
                if not quiet and not progress.enabled:   # logs get one line per submission
                    print(f"[{progress.done}/{len(jobs)}] {result.student}: {word} "
                          f"{points_line(result)} ({result.wall_s or 0:.1f} s)",
                          file=sys.stderr, flush=True)
        finally:
            progress.close()
            close = getattr(pool, "close", None)
            if close:
                close()
    results = store.results([j.student for j in jobs])
    missing = {j.student for j in jobs} - {r.student for r in results}
    for job in jobs:   # never silently: a job that left nothing (or nothing readable) is a row
        if job.student in missing:
            results.append(save_student(store, outputs, internal_failure(
                job, "no readable result was stored for this submission").result, {}))
    for i, result in enumerate(results):
        job = by_student.get(result.student)
        before = result.to_dict()
        if job is not None:   # a reused result gets today's origin, deadline and extensions
            result = bring_up_to_date(result, job, policy, staff)
        folder = store.student_dir(result.student)
        if result.to_dict() != before or not (folder / "report.html").exists():
            results[i] = save_student(store, outputs, result, {})
    wall = time.monotonic() - started
    batch = {"started_at": started_at,
             "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
             "wall_s": round(wall, 2), "checks_mode": options.checks, "workers": workers,
             "layout": f"{found.layout} ({found.why})",
             "engine": f"dask {dask}" if dask else "local processes",
             "command": command or shlex.join(sys.argv), "graded_now": len(todo),
             "reused": len(jobs) - len(todo)}
    stored = {id(r) for r in results}
    similarity_failure = _similarity(out, entries, planner)
    written, results, failures = outputs.write_class(results, batch)
    failures += similarity_failure
    for result in results:   # rows the class outputs had to turn into internal ones
        if id(result) not in stored:
            save_student(store, outputs, result, {})
    return BatchSummary(total=len(jobs), graded_now=len(todo), reused=len(jobs) - len(todo),
                        errors=sum(r.status == "error" for r in results),
                        internal=sum(r.status == "internal" for r in results),
                        review=sum(bool(r.needs_review) for r in results),
                        wall_s=wall, out=out, index=written.get("dashboard"),
                        gradebook=written.get("gradebook"),
                        ignored=[(str(p), why) for p, why in found.ignored],
                        failed_outputs=failures, layout=found.layout, layout_why=found.why,
                        notes=[*found.notes, *latest_notes,
                               *_unmatched_notes(staff, writeups, [j.student for j in jobs])],
                        late=sum(r.late is not None for r in results))

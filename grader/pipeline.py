"""Grade one submission end to end: ingest → sandbox observations → checks → a `Result`.

    with Grader("csc413-2023-a2", checks="static") as g:
        graded = g.grade_path("class/alice.ipynb")
        graded.result.score

A `Grader` holds a `Plan` (rubric, compiled expectations, options), a warm sandbox and the
training stage's caches, so a batch worker pays those costs once; each submission's state lives
on its own `SubmissionRun`. Every number a check judges comes from the trusted side (replayed
graphs, exported weights, re-scored predictions); the student's process only hands back data.
"""

from __future__ import annotations

import platform
import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import grader
from grader import faults
from grader.checks.registry import Verdict, load_builtin
from grader.graph.observe import OBSERVE_SEED
from grader.ingest.problems import IngestError, Problem
from grader.ingest.slicing import Program, extract
from grader.ingest.submission import (
    Submission,
    load_submission,
    payload_hash,
    read_payload,
    student_id,
)
from grader.plan import MODES, Options, Plan, grading_key
from grader.result import (
    CheckResult,
    Graded,
    QuestionResult,
    Result,
    RubricInfo,
    SubmissionInfo,
    staff_traceback,
)
from grader.rubric.compile import check_uid, observe_configs
from grader.rubric.schema import CheckSpec, Question, Rubric
from grader.state import SubmissionRun, outcome_problem

__all__ = ["MODES", "Grader", "Options", "grade_path", "grading_key"]


def _environment(device: str, seed: int, isolation: dict[str, Any]) -> dict[str, Any]:
    import numpy
    import torch

    return {"grader": grader.__version__, "python": platform.python_version(),
            "torch": torch.__version__, "numpy": numpy.__version__,
            "platform": platform.platform(), "device": device,
            "seeds": {"python": seed, "numpy": seed, "torch": seed, "cuda": seed,
                      "observe": OBSERVE_SEED},
            "isolation": isolation}


class Grader:
    """Grades submissions against one rubric; reusable, and cheap after the first one."""

    def __init__(self, rubric: Rubric | str | Path, *, options: Options | None = None,
                 compiled: dict[str, Any] | None = None, **option_values: Any) -> None:
        self.plan = Plan(rubric, options or Options(**option_values), compiled)
        self.registry = load_builtin()
        self._sandbox = None
        self._training = None
        self._writeups = None

    # -- what the plan says --------------------------------------------------------------------
    @property
    def rubric(self) -> Rubric:
        return self.plan.rubric

    @property
    def options(self) -> Options:
        return self.plan.options

    @property
    def compiled(self) -> dict[str, Any]:
        return self.plan.compiled

    def key(self, payload_sha: str) -> str:
        return self.plan.key(payload_sha)

    def rubric_info(self) -> RubricInfo:
        return self.plan.rubric_info()

    # -- lifetime ------------------------------------------------------------------------------
    def __enter__(self) -> Grader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def sandbox(self):  # noqa: ANN201 - grader.sandbox.pool.Sandbox, imported lazily
        if self._sandbox is None:
            from grader.sandbox.pool import Sandbox

            self._sandbox = Sandbox(self.plan.limits, workers=1, threads=self.options.threads,
                                    mechanism=self.options.isolation)
            self._sandbox.start()
        return self._sandbox

    @property
    def training(self):  # noqa: ANN201 - grader.stages.training.TrainingStage, imported lazily
        if self._training is None:
            from grader.stages.training import TrainingStage

            self._training = TrainingStage(self.plan)
        return self._training

    @property
    def writeups(self):  # noqa: ANN201 - grader.stages.writeups.WriteupStage, imported lazily
        if self._writeups is None:
            from grader.stages.writeups import WriteupStage

            self._writeups = WriteupStage(self.plan)
        return self._writeups

    def prepare(self, threads: int | None = None) -> int:
        """Calibrate every training check now (once, before workers start); how many there are."""
        return self.training.prepare(threads) if self.options.checks == "all" else 0

    def close(self) -> None:
        if self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None

    # -- one submission ------------------------------------------------------------------------
    def grade_path(self, path: str | Path, student: str | None = None,
                   writeup: Path | None = None) -> Graded:
        """Grade one submission file or folder (with the student's write-up, when it comes
        separately); never raises.

        A failure of the student's code costs the checks that need that code; a failure of
        the grader itself (any exception here) becomes an `internal` row that keeps whatever
        was graded before it, with the traceback for staff.
        """
        path = Path(path)
        started = time.monotonic()
        run = SubmissionRun()
        key = self._key_of(path)
        t = time.monotonic()
        try:
            faults.point("ingest", student or path.stem)
            submission = load_submission(path, student,
                                         student_pattern=self.rubric.student_pattern)
        except IngestError as exc:
            return self._unreadable(path, student, exc.problem, started, key)
        except Exception as exc:
            return self._failed(path, student, "reading the submission", exc, started, key)
        run.timings["ingest_s"] += time.monotonic() - t
        program = self._stage(run, "observing the models", self._observe, submission, run)
        if self.options.checks == "all":
            self._stage(run, "training the models", self.training.run, program, run,
                        self.sandbox)
        self._stage(run, "running the fine-tuning code", self._finetune, submission, run)
        self._stage(run, "reading the write-up", self.writeups.run, submission, run,
                    lambda: self.sandbox, writeup)
        try:
            return self._result(submission, program, run, started, key)
        except Exception as exc:
            return self._failed(path, submission.student, "judging the checks", exc, started,
                                key)

    def _key_of(self, path: Path) -> str:
        try:
            return self.key(payload_hash(read_payload(path)[0]))
        except OSError:
            return self.key("")

    # -- stages --------------------------------------------------------------------------------
    @staticmethod
    def _stage(run: SubmissionRun, doing: str, step: Any, *args: Any) -> Any:
        """Run one stage; the grader's own failure there is recorded, never the student's,
        and the later stages still run."""
        try:
            return step(*args)
        except Exception as exc:
            run.problem(Problem("internal", f"the grader failed while {doing}: {exc!r}",
                                traceback=staff_traceback(exc)).to_dict())
            return None

    def _observe(self, submission: Submission, run: SubmissionRun) -> Program | None:
        from grader.graph.measure import measure
        from grader.sandbox.tasks.observe import observe_request

        faults.point("observe", submission.student)
        names = self.plan.class_targets(("static", "training"))
        if not names:
            return None
        t = time.monotonic()
        aliases = [a for n in names for a in self.rubric.targets[n].aliases]
        program = extract(submission, names, extra_names=aliases)
        for problem in program.problems:
            run.problem(problem.to_dict())
        run.timings["ingest_s"] += time.monotonic() - t
        # One sandbox run per target: a hang or crash in one class costs only that class.
        for name in names:
            target = self.rubric.targets[name]
            request = observe_request(program, {name: {"aliases": target.aliases,
                                                       "configs": observe_configs(target)}},
                                      OBSERVE_SEED)
            t = time.monotonic()
            outcome = self.sandbox.run(request)
            run.timings["sandbox_s"] += time.monotonic() - t
            run.add_resources(outcome)
            if outcome.ok and isinstance(outcome.result, dict):
                run.problem(outcome.result.get("problem"))
                t = time.monotonic()
                run.measured.update(measure(outcome.result, outcome.artifacts))
                run.timings["checks_s"] += time.monotonic() - t
            else:
                problem = outcome_problem(outcome, f"building and running {name}")
                run.problem(problem)
                run.measured[name] = {"found": False, "problem": problem, "configs": {}}
        return program

    def _finetune(self, submission: Submission, run: SubmissionRun) -> None:
        wanted = dict.fromkeys(spec.target for _, spec in self.plan.running("finetune"))
        if not wanted:
            return
        from grader.finetune.observe import finetune_measured

        t = time.monotonic()
        for name in wanted:
            measured = finetune_measured(submission, self.sandbox, target=name,
                                         timeout=self.plan.limits.timeout)
            run.measured[name] = measured
            run.problem(measured.get("problem")
                        or ((measured.get("finetune") or {}).get("run") or {}).get("problem"))
        run.timings["finetune_s"] += time.monotonic() - t

    # -- verdicts and the record ---------------------------------------------------------------
    def _verdict(self, question: Question, spec: CheckSpec, run: SubmissionRun) -> Verdict:
        why = self.plan.selected(question, spec)
        if why is not None:
            return Verdict.skipped(why)
        uid = check_uid(question, spec)
        expected = dict(self.compiled.get("expectations", {}).get(uid) or {})
        expected.update(run.expected.get(uid) or {})
        measured = run.per_check.get(uid)
        if measured is None:
            measured = run.measured.get(spec.target or "") or {}
        try:
            verdict = self.registry[spec.kind](measured, expected, spec.params)
        except Exception as exc:
            return Verdict.internal(f"the {spec.kind} check failed: {exc!r}",
                                    traceback=staff_traceback(exc))
        extra = run.extra_details.get(uid)
        if extra:
            verdict = Verdict(verdict.status, verdict.fraction, verdict.message,
                              {**verdict.details, **extra})
        return verdict

    def _questions(self, run: SubmissionRun, student: str) -> list[QuestionResult]:
        faults.point("checks", student)
        questions = []
        for question in self.rubric.questions:
            total_weight = sum(s.weight for s in question.checks)
            checks, earned = [], 0.0
            for spec in question.checks:
                verdict = self._verdict(question, spec, run)
                max_score = question.points * spec.weight / total_weight
                earned += max_score * verdict.fraction
                checks.append(CheckResult(
                    id=spec.id, kind=spec.kind, target=spec.target, title=spec.title,
                    weight=spec.weight, visibility=spec.visibility, feedback=spec.feedback,
                    status=verdict.status, score=round(max_score * verdict.fraction, 9),
                    max_score=round(max_score, 9), message=verdict.message,
                    details=verdict.details))
            questions.append(QuestionResult(   # the sum before rounding: full is exact
                id=str(question.id), title=question.title or "", score=round(earned, 6),
                max_score=question.points, checks=checks))
        return questions

    def _context(self, run: SubmissionRun | None, started: float, key: str) -> dict[str, Any]:
        """The fields every kind of result carries besides its verdicts."""
        timings = {"total_s": round(time.monotonic() - started, 3)}
        if run is not None:
            timings.update({k: round(v, 3) for k, v in run.timings.items()})
        return {"checks_mode": self.options.checks, "public_only": self.options.public_only,
                "environment": _environment(run.device if run else "cpu", self.rubric.seed,
                                            run.isolation if run else {}),
                "timings": timings,
                "resources": {k: (round(v, 3) if isinstance(v, float) else v)
                              for k, v in (run.resources if run else {}).items()},
                "options": asdict(self.options),
                "graded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "key": key}

    def _result(self, submission: Submission, program: Program | None, run: SubmissionRun,
                started: float, key: str) -> Graded:
        t = time.monotonic()
        questions = self._questions(run, submission.student)
        run.timings["checks_s"] += time.monotonic() - t
        info = SubmissionInfo(path=str(submission.path), kind=submission.kind,
                              sha256=submission.sha256, files=sorted(submission.files),
                              ignored=[str(i) for i in submission.ignored],
                              notes=[str(n) for n in submission.notes])
        result = Result.graded(
            student=submission.student, submission=info, rubric=self.rubric_info(),
            questions=questions, problems=[Problem.from_dict(p) for p in run.problems],
            neutralised=list(program.neutralised) if program is not None else [],
            **self._context(run, started, key))
        return Graded(result, run.artifacts)

    def _submission_info(self, path: Path, student: str | None, kind: str
                         ) -> tuple[str, SubmissionInfo]:
        who = student or student_id(path, self.rubric.student_pattern)
        sha = payload_hash(path.read_bytes()) if path.is_file() else ""
        return who, SubmissionInfo(path=str(path), kind=kind, sha256=sha, files=[path.name])

    def _unreadable(self, path: Path, student: str | None, problem: Problem,
                    started: float, key: str) -> Graded:
        """An error row for a submission that could not be read at all (corrupt, too big)."""
        who, info = self._submission_info(path, student, "unreadable")
        questions = []
        for question in self.rubric.questions:
            total_weight = sum(s.weight for s in question.checks)
            checks = []
            for s in question.checks:
                # A check this mode does not run, or a written one (a write-up is graded with
                # its notebook), stays unassessed; every other one is lost to the failure.
                why = self.plan.selected(question, s) or (
                    "not assessed: the submission could not be read" if s.stage == "writeup"
                    else None)
                checks.append(CheckResult(
                    id=s.id, kind=s.kind, target=s.target, title=s.title, weight=s.weight,
                    visibility=s.visibility, feedback=s.feedback,
                    status="skipped" if why else "error", score=0.0,
                    max_score=round(question.points * s.weight / total_weight, 6),
                    message=why or problem.message))
            questions.append(QuestionResult(id=str(question.id), title=question.title or "",
                                            score=0.0, max_score=question.points,
                                            checks=checks))
        return Graded(Result.not_gradable(student=who, submission=info,
                                          rubric=self.rubric_info(), problem=problem,
                                          questions=questions,
                                          **self._context(None, started, key)))

    def _failed(self, path: Path, student: str | None, doing: str, exc: BaseException,
                started: float, key: str) -> Graded:
        """An internal row: the grader itself failed on this submission."""
        who, info = self._submission_info(path, student, "file" if path.is_file() else "folder")
        return Graded(Result.internal_failure(
            student=who, submission=info, rubric=self.rubric_info(),
            message=f"the grader failed while {doing}: {exc!r}", exc=exc,
            **self._context(None, started, key)))


def grade_path(path: str | Path, rubric: Rubric | str | Path, **options: Any) -> Graded:
    """Grade one submission with a throwaway Grader (scripts and tests)."""
    with Grader(rubric, **options) as g:
        return g.grade_path(path)

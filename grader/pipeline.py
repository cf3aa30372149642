"""Grade one submission end to end: ingest → sandbox observations → checks → result.json.

    with Grader("csc413-2023-a2", checks="static") as g:
        graded = g.grade_path("class/alice.ipynb")
        graded.result.score

One `Grader` holds a rubric, its compiled expectations, the training data packs and a warm
sandbox, so a batch worker pays those costs once. Every number a check judges comes from the
trusted side (replayed graphs, exported weights, re-scored predictions); the student's process
only ever hands back data.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import grader
from grader import faults
from grader.batch.jobs import Graded, Job, Materialised
from grader.checks.registry import Verdict, load_builtin
from grader.ingest.problems import IngestError, Problem
from grader.ingest.slicing import Program, extract
from grader.ingest.submission import Submission, load_submission
from grader.result import (
    CheckResult,
    QuestionResult,
    Result,
    RubricInfo,
    SubmissionInfo,
    staff_traceback,
)
from grader.rubric.compile import check_uid, load_compiled, observe_configs, rubric_hash
from grader.rubric.schema import CheckSpec, Question, Rubric, load_rubric
from grader.sandbox.limits import Limits
from grader.sandbox.outcome import Outcome

MODES = ("static", "all")
OBSERVE_SEED = 1234
OUTCOME_PROBLEM = {"timeout": ("timeout", "did not finish within the time limit"),
                   "memory": ("memory", "ran out of memory"),
                   "crashed": ("crashed", "crashed the Python process"),
                   "output_limit": ("limit", "printed more output than allowed")}


@dataclass
class Options:
    """How to grade: which stages run, with which data and limits. Part of the result key."""

    checks: str = "static"            # "static": no training; "all": train the models too
    data: str | None = None           # CIFAR-10 (pickle batches or image folders); None: synthetic
    colours: str | None = None        # the course palette file
    timeout: float | None = None      # per sandbox task, overrides the rubric's
    memory: str | None = None
    device: str = "auto"
    public_only: bool = False         # the student's self-check: hidden checks do not run
    cache_dir: str | None = None      # data packs and reference calibrations
    isolation: str = "auto"           # sandbox mechanism: auto | bwrap | none
    threads: int | None = None        # torch threads inside the sandbox
    gpu_jobs: int = 1                 # training tasks sharing one GPU (each gets its share)

    def __post_init__(self) -> None:
        if self.checks not in MODES:
            raise ValueError(f"--checks must be one of {', '.join(MODES)}, not {self.checks!r}")

    def key_part(self) -> dict[str, Any]:
        """What changes a grade (the cache and device do not)."""
        return {"checks": self.checks, "data": self.data, "colours": self.colours,
                "timeout": self.timeout, "memory": self.memory,
                "public_only": self.public_only}


def grading_key(submission_sha: str, rubric: Rubric, compiled: dict[str, Any],
                options: Options) -> str:
    """Results are reused only when submission, rubric, reference, grader and options match."""
    text = json.dumps({"submission": submission_sha, "rubric": rubric_hash(rubric),
                       "reference": compiled.get("reference_sha256"),
                       "grader": grader.__version__, "options": options.key_part()},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def outcome_problem(outcome: Outcome, doing: str) -> dict[str, Any]:
    """A Problem for a sandbox task that did not return normally."""
    if outcome.status in OUTCOME_PROBLEM:
        kind, words = OUTCOME_PROBLEM[outcome.status]
        return Problem(kind, f"{doing}: the code {words}").to_dict()
    last = ((outcome.error or "").strip().splitlines() or ["no details"])[-1]
    return Problem("internal", f"{doing}: the grader's task failed ({last})").to_dict()


def _environment(device: str, seed: int, isolation: dict[str, Any]) -> dict[str, Any]:
    import numpy
    import torch

    return {"grader": grader.__version__, "python": platform.python_version(),
            "torch": torch.__version__, "numpy": numpy.__version__,
            "platform": platform.platform(), "device": device,
            "seeds": {"python": seed, "numpy": seed, "torch": seed, "cuda": seed,
                      "observe": OBSERVE_SEED},
            "isolation": isolation}


@dataclass
class _Run:
    """What grading one submission accumulates before it becomes a result."""

    measured: dict[str, dict[str, Any]] = field(default_factory=dict)
    per_check: dict[str, dict[str, Any]] = field(default_factory=dict)   # uid -> measured
    expected: dict[str, dict[str, Any]] = field(default_factory=dict)    # uid -> extra expected
    extra_details: dict[str, dict[str, Any]] = field(default_factory=dict)
    artifacts: dict[str, bytes] = field(default_factory=dict)
    problems: list[dict[str, Any]] = field(default_factory=list)
    resources: dict[str, float] = field(default_factory=lambda: {
        "wall_s": 0.0, "cpu_s": 0.0, "max_rss_bytes": 0})
    timings: dict[str, float] = field(default_factory=lambda: {
        "ingest_s": 0.0, "sandbox_s": 0.0, "training_s": 0.0, "finetune_s": 0.0,
        "checks_s": 0.0})
    device: str = "cpu"

    def add_resources(self, outcome: Outcome) -> None:
        res = outcome.resources or {}
        self.resources["wall_s"] += float(res.get("wall_s") or 0.0)
        self.resources["cpu_s"] += float(res.get("cpu_s") or 0.0)
        self.resources["max_rss_bytes"] = max(self.resources["max_rss_bytes"],
                                              int(res.get("max_rss_bytes") or 0))

    def problem(self, problem: dict[str, Any] | None) -> None:
        if problem and problem not in self.problems:
            self.problems.append(problem)


class Grader:
    """Grades submissions against one rubric; reusable, and cheap after the first one."""

    def __init__(self, rubric: Rubric | str | Path, *, options: Options | None = None,
                 compiled: dict[str, Any] | None = None, **option_values: Any) -> None:
        self.rubric = rubric if isinstance(rubric, Rubric) else load_rubric(rubric)
        self.options = options or Options(**option_values)
        self.compiled = compiled if compiled is not None else load_compiled(self.rubric)
        self.registry = load_builtin()
        base = Limits.from_mapping(self.rubric.limits)
        self.limits = base.with_overrides(timeout=self.options.timeout,
                                          memory=self.options.memory)
        self._sandbox = None
        self._packs: dict[str, Any] = {}

    # -- lifetime ------------------------------------------------------------------------------
    def __enter__(self) -> Grader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def sandbox(self):  # noqa: ANN201 - grader.sandbox.pool.Sandbox, imported lazily
        if self._sandbox is None:
            from grader.sandbox.pool import Sandbox

            self._sandbox = Sandbox(self.limits, workers=1, threads=self.options.threads,
                                    mechanism=self.options.isolation)
            self._sandbox.start()
        return self._sandbox

    def close(self) -> None:
        if self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None

    # -- what runs -----------------------------------------------------------------------------
    def selected(self, question: Question, spec: CheckSpec) -> str | None:
        """None when the check runs, else why it is skipped."""
        if self.options.public_only and spec.visibility == "hidden":
            return "hidden check: graded by the course staff, not in the self-check"
        if spec.stage == "training" and self.options.checks != "all":
            return "training checks run with --checks all"
        return None

    def key(self, submission_sha: str) -> str:
        return grading_key(submission_sha, self.rubric, self.compiled, self.options)

    # -- entry points --------------------------------------------------------------------------
    def grade_job(self, job: Job) -> Graded:
        """Grade a batch job (its bytes are written to a private temporary folder first)."""
        with Materialised(job) as path:
            graded = self.grade_path(path, student=job.student)
        graded.result.submission.path = job.source
        graded.result.key = job.key
        return graded

    def grade_path(self, path: str | Path, student: str | None = None) -> Graded:
        """Grade one submission file or folder; never raises.

        A failure of the student's code costs the checks that need that code; a failure of
        the grader itself (any exception here) becomes an `internal` row that keeps whatever
        was graded before it, with the traceback for staff.
        """
        started = time.monotonic()
        run = _Run()
        t = time.monotonic()
        who = student or Path(path).stem
        try:
            faults.point("ingest", who)
            submission = load_submission(path, student,
                                         student_pattern=self.rubric.student_pattern)
        except IngestError as exc:
            return self._unreadable(Path(path), student, exc.problem, started)
        except Exception as exc:
            return self._failed(Path(path), student, "reading the submission", exc, started)
        run.timings["ingest_s"] += time.monotonic() - t
        program = self._stage(run, "observing the models", self._observe, submission, run)
        self._stage(run, "training the models", self._train, program, run)
        self._stage(run, "running the fine-tuning code", self._finetune, submission, run)
        try:
            return self._result(submission, program, run, started)
        except Exception as exc:
            return self._failed(Path(path), submission.student, "judging the checks", exc,
                                started)

    # -- stages --------------------------------------------------------------------------------
    @staticmethod
    def _stage(run: _Run, doing: str, step: Any, *args: Any) -> Any:
        """Run one stage; the grader's own failure there is recorded, never the student's,
        and the later stages still run."""
        try:
            return step(*args)
        except Exception as exc:
            run.problem(Problem("internal", f"the grader failed while {doing}: {exc!r}",
                                traceback=staff_traceback(exc)).to_dict())
            return None

    def _class_targets(self, stages: tuple[str, ...]) -> list[str]:
        names: list[str] = []
        for question, spec in self.rubric.checks():
            target = self.rubric.targets.get(spec.target or "")
            if (target is not None and target.kind == "class" and spec.stage in stages
                    and self.selected(question, spec) is None and target.name not in names):
                names.append(target.name)
        return names

    def _observe(self, submission: Submission, run: _Run) -> Program | None:
        from grader.graph.measure import measure
        from grader.sandbox.tasks.observe import observe_request

        faults.point("observe", submission.student)
        names = self._class_targets(("static", "training"))
        if not names:
            return None
        t = time.monotonic()
        aliases = [a for n in names for a in self.rubric.targets[n].aliases]
        program = extract(submission, names, extra_names=aliases)
        for problem in program.problems:
            run.problem(problem.to_dict() if hasattr(problem, "to_dict") else dict(problem))
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
            self.isolation = outcome.isolation
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

    def _pack(self, budget: dict[str, Any], num_colours: int):  # noqa: ANN202 - DataPack
        from grader.training.data import build_pack

        key = json.dumps([budget, num_colours], sort_keys=True)
        if key not in self._packs:
            self._packs[key] = build_pack(self.options.data, self.options.colours, budget,
                                          num_colours=num_colours, seed=self.rubric.seed,
                                          cache_dir=self.options.cache_dir)
        return self._packs[key]

    def _calibration(self, spec: CheckSpec, threads: int | None = None
                     ) -> tuple[Any, dict[str, Any], str, list[Any], dict[str, Any]]:
        """(pack, reference calibration, config, args, budget) of a training check (cached)."""
        from grader.checks.accuracy import budget_of
        from grader.sandbox.tasks.train import normalise_budget
        from grader.training.calibrate import calibrate

        target = self.rubric.targets[spec.target]
        config = spec.params.get("config") or next(iter(target.configs))
        args = target.args(config)
        budget = budget_of(spec.params)
        pack = self._pack(budget, int(target.configs[config].get("num_colours", 24)))
        question = next(q for q in self.rubric.questions if spec in q.checks)
        shipped = (self.compiled.get("expectations", {}).get(check_uid(question, spec)) or {}
                   ).get("calibration")
        if (shipped and (shipped.get("data") or {}).get("fingerprint") == pack.fingerprint
                and shipped.get("budget") == normalise_budget(budget)
                and shipped.get("args") == list(args)):
            return pack, shipped, config, args, budget   # compiled with the rubric: same data
        calibration = calibrate(target.reference, args, pack, budget,
                                seeds=int(spec.params.get("seeds") or 3), seed=self.rubric.seed,
                                config=config, cache_dir=self.options.cache_dir,
                                device=self.options.device, threads=threads)
        return pack, calibration, config, args, budget

    def prepare(self, threads: int | None = None) -> int:
        """Calibrate every training check now (once, before workers start); how many there are."""
        count = 0
        if self.options.checks == "all":
            for question, spec in self.rubric.checks():
                if spec.stage == "training" and self.selected(question, spec) is None:
                    self._calibration(spec, threads)
                    count += 1
        return count

    def _train(self, program: Program | None, run: _Run) -> None:
        if self.options.checks != "all" or program is None:
            return
        from grader.checks.accuracy import RETRY_SEEDS, thresholds
        from grader.training.measured import train_request, training_measured
        from grader.training.pictures import horse_grid

        for question, spec in self.rubric.checks():
            if spec.stage != "training" or self.selected(question, spec) is not None:
                continue
            uid = check_uid(question, spec)
            target = self.rubric.targets[spec.target]
            measured = run.measured.get(target.name) or {}
            if not measured.get("found") or measured.get("problem"):
                continue   # the check reports why the model could not be built
            t = time.monotonic()
            pack, calibration, config, args, budget = self._calibration(spec)
            limits = self.limits.with_overrides(timeout=max(self.limits.timeout, 600.0))
            _, pass_at, _ = thresholds(calibration["val_acc"], spec.params)
            training, attempts = None, []
            for attempt in range(1 + RETRY_SEEDS):
                seed = self.rubric.seed + attempt
                request = train_request(program, target.name, args, budget,
                                        aliases=target.aliases, seed=seed,
                                        device=self.options.device)
                request["gpu_memory_fraction"] = round(0.9 / max(1, self.options.gpu_jobs), 3)
                outcome = self.sandbox.run(request, files=pack.files(), limits=limits)
                run.add_resources(outcome)
                this = training_measured(outcome, program, target=target.name, pack=pack)
                attempts.append({"seed": seed, "val_acc": this.get("val_acc"),
                                 "problem": this.get("problem")})
                if training is None or (this.get("val_acc") or -1) > (
                        training.get("val_acc") or -1):
                    training = this
                # A failure of the student's code, or a run that clears the bar, is final.
                if this.get("problem") or (this.get("val_acc") or 0) >= pass_at:
                    break
            training["attempts"] = attempts
            run.timings["training_s"] += time.monotonic() - t
            run.device = training.get("device") or run.device
            run.problem(training.get("problem"))
            run.per_check[uid] = {**measured, "training": training}
            run.expected[uid] = {"calibration": calibration}
            grid = self._samples_picture(horse_grid, pack, calibration, training)
            if grid is not None:
                name = f"artifacts/samples_{target.name}.png"
                run.artifacts[name] = grid
                run.extra_details[uid] = {"samples": name}

    @staticmethod
    def _samples_picture(horse_grid, pack, calibration, training) -> bytes | None:  # noqa: ANN001
        count = len(calibration.get("samples") or [])
        if not count:
            return None
        samples = pack.samples(count)
        try:
            return horse_grid(samples["grey"], samples["true"], pack.palette,
                              reference=calibration.get("samples"),
                              student=training.get("samples"), n=min(8, count))
        except (ValueError, KeyError):
            return None

    def _finetune(self, submission: Submission, run: _Run) -> None:
        wanted = [spec.target for question, spec in self.rubric.checks()
                  if spec.stage == "finetune" and self.selected(question, spec) is None]
        if not wanted:
            return
        from grader.finetune.observe import finetune_measured

        t = time.monotonic()
        for name in dict.fromkeys(wanted):
            measured = finetune_measured(submission, self.sandbox, target=name,
                                         timeout=self.limits.timeout)
            run.measured[name] = measured
            run.problem(measured.get("problem")
                        or ((measured.get("finetune") or {}).get("run") or {}).get("problem"))
        run.timings["finetune_s"] += time.monotonic() - t

    # -- verdicts and the record ---------------------------------------------------------------
    def _verdict(self, question: Question, spec: CheckSpec, run: _Run) -> Verdict:
        why = self.selected(question, spec)
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

    def _questions(self, run: _Run, student: str) -> list[QuestionResult]:
        faults.point("checks", student)
        questions = []
        for question in self.rubric.questions:
            total_weight = sum(s.weight for s in question.checks)
            checks = []
            for spec in question.checks:
                verdict = self._verdict(question, spec, run)
                max_score = question.points * spec.weight / total_weight
                checks.append(CheckResult(
                    id=spec.id, kind=spec.kind, target=spec.target, title=spec.title,
                    weight=spec.weight, visibility=spec.visibility, feedback=spec.feedback,
                    status=verdict.status, score=round(max_score * verdict.fraction, 6),
                    max_score=round(max_score, 6), message=verdict.message,
                    details=verdict.details))
            questions.append(QuestionResult(
                id=str(question.id), title=question.title or "",
                score=round(sum(c.score for c in checks), 6), max_score=question.points,
                checks=checks))
        return questions

    def rubric_info(self) -> RubricInfo:
        return RubricInfo(id=self.rubric.id, title=self.rubric.title,
                          sha256=rubric_hash(self.rubric),
                          path=str(self.rubric.path) if self.rubric.path else None,
                          max_score=self.rubric.max_score)

    def _context(self, run: _Run | None, started: float, key: str) -> dict[str, Any]:
        """The fields every kind of result carries besides its verdicts."""
        timings = {"total_s": round(time.monotonic() - started, 3)}
        if run is not None:
            timings.update({k: round(v, 3) for k, v in run.timings.items()})
        return {"checks_mode": self.options.checks, "public_only": self.options.public_only,
                "environment": _environment(run.device if run else "cpu", self.rubric.seed,
                                            getattr(self, "isolation", {}) or {}),
                "timings": timings,
                "resources": {k: (round(v, 3) if isinstance(v, float) else v)
                              for k, v in (run.resources if run else {}).items()},
                "options": asdict(self.options),
                "graded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "key": key}

    def _result(self, submission: Submission, program: Program | None, run: _Run,
                started: float) -> Graded:
        t = time.monotonic()
        questions = self._questions(run, submission.student)
        run.timings["checks_s"] += time.monotonic() - t
        info = SubmissionInfo(path=str(submission.path), kind=submission.kind,
                              sha256=submission.sha256, files=sorted(submission.files),
                              ignored=[str(i) for i in getattr(submission, "ignored", ()) or ()],
                              notes=[str(n) for n in getattr(submission, "notes", ()) or ()])
        result = Result.graded(
            student=submission.student, submission=info, rubric=self.rubric_info(),
            questions=questions, problems=[Problem.from_dict(p) for p in run.problems],
            neutralised=list(program.neutralised) if program is not None else [],
            **self._context(run, started, self.key(submission.sha256)))
        return Graded(result, run.artifacts)

    def _submission_info(self, path: Path, student: str | None, kind: str
                         ) -> tuple[str, SubmissionInfo]:
        from grader.ingest.submission import student_id

        who = student or student_id(path, self.rubric.student_pattern)
        sha = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
        return who, SubmissionInfo(path=str(path), kind=kind, sha256=sha, files=[path.name])

    def _unreadable(self, path: Path, student: str | None, problem: Problem,
                    started: float) -> Graded:
        """An error row for a submission that could not be read at all (corrupt, too big)."""
        who, info = self._submission_info(path, student, "unreadable")
        questions = []
        for question in self.rubric.questions:
            total_weight = sum(s.weight for s in question.checks)
            questions.append(QuestionResult(
                id=str(question.id), title=question.title or "", score=0.0,
                max_score=question.points, checks=[
                    CheckResult(id=s.id, kind=s.kind, target=s.target, title=s.title,
                                weight=s.weight, visibility=s.visibility,
                                feedback=s.feedback, status="error", score=0.0,
                                max_score=round(question.points * s.weight / total_weight, 6),
                                message=problem.message)
                    for s in question.checks]))
        return Graded(Result.not_gradable(student=who, submission=info,
                                          rubric=self.rubric_info(), problem=problem,
                                          questions=questions,
                                          **self._context(None, started, self.key(info.sha256))))

    def _failed(self, path: Path, student: str | None, doing: str, exc: BaseException,
                started: float) -> Graded:
        """An internal row: the grader itself failed on this submission."""
        who, info = self._submission_info(path, student, "file" if path.is_file() else "folder")
        return Graded(Result.internal_failure(
            student=who, submission=info, rubric=self.rubric_info(),
            message=f"the grader failed while {doing}: {exc!r}", exc=exc,
            **self._context(None, started, self.key(info.sha256))))


@dataclass
class GraderFactory:
    """A picklable recipe for a `Grader`, so batch workers (local or Dask) build their own."""

    rubric: str
    options: Options
    compiled: dict[str, Any] | None = None

    def __call__(self) -> Grader:
        return Grader(self.rubric, options=self.options, compiled=self.compiled)


def grade_path(path: str | Path, rubric: Rubric | str | Path, **options: Any) -> Graded:
    """Grade one submission with a throwaway Grader (scripts and tests)."""
    with Grader(rubric, **options) as g:
        return g.grade_path(path)


if __name__ == "__main__":  # pragma: no cover - a debugging aid
    print(grade_path(sys.argv[1], sys.argv[2]).result.to_json()[:5000])

"""The graded record of one submission: the one place that owns result.json.

Every stage after the checks reads a `Result` (reports, dashboard, gradebook, exports, the
batch summary, the audit) and only `Result.to_dict` writes one, so a field has one meaning
everywhere. `Result.from_dict` reads every schema this project has written (1: the untyped
record of the first version; 2: this one), so stored results from an earlier run stay usable.

A submission ends in one of three states:

- `graded`: verdicts were made (some checks may have failed because of the student's code);
- `error`: nothing could be graded because of the submission itself (unreadable, no code);
- `internal`: the grader failed somewhere for this student (an exception in a stage, a check
  that could not complete, a crashed worker). Whatever was graded is kept; the row needs a
  TA's attention and the staff traceback is kept in `error`.

Questions whose checks all did not run in this mode (`--checks static` skips training) are
"not assessed": readers show them blank, never as zero.
"""

from __future__ import annotations

import json
import traceback as tb_module
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from grader.ingest.origin import Origin
from grader.ingest.problems import Problem

SCHEMA = 2
STATUSES = ("graded", "error", "internal")
EPS = 1e-9


def _problem(value: Any) -> Problem | None:
    if isinstance(value, Problem):
        return value
    if isinstance(value, Mapping) and value.get("kind"):
        data = dict(value)
        try:
            return Problem.from_dict(data)
        except ValueError:   # a kind from a newer grader: keep the text
            return Problem("internal", f"{data.get('kind')}: {data.get('message', '')}")
    return None


def _problems(values: Iterable[Any] | None) -> list[Problem]:
    return [p for p in (_problem(v) for v in values or ()) if p is not None]


def staff_traceback(exc: BaseException) -> list[str]:
    """The last lines of an exception's traceback, for course staff."""
    lines = [line.rstrip("\n") for line in tb_module.format_exception(exc)]
    return [part for line in lines for part in line.splitlines()][-20:]


@dataclass
class CheckResult:
    """One rubric check's verdict and its share of the question's points."""

    id: str
    kind: str
    status: str                    # passed | failed | error | skipped | internal
    score: float
    max_score: float
    message: str = ""
    target: str | None = None
    title: str | None = None
    weight: float = 1.0
    visibility: str = "public"
    feedback: str = "full"
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def assessed(self) -> bool:
        """False when the check did not run in this mode, or awaits a TA's review."""
        return self.status not in ("skipped", "review")

    @property
    def review_reason(self) -> str:
        """Why a TA must look, in one line for staff tables: the check's short reason where
        it gives one as text (`details.review`), else its message."""
        why = self.details.get("review")
        return why if isinstance(why, str) and why else self.message

    @property
    def problem(self) -> Problem | None:
        """The located student failure behind an `error` verdict, wherever the check put it."""
        found = self.details.get("problem")
        training = self.details.get("training")
        if found is None and isinstance(training, Mapping):
            found = training.get("problem")
        return _problem(found)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckResult:
        return cls(id=str(data.get("id") or data.get("kind") or "check"),
                   kind=str(data.get("kind") or "check"),
                   status=str(data.get("status") or "internal"),
                   score=float(data.get("score") or 0.0),
                   max_score=float(data.get("max_score") or 0.0),
                   message=str(data.get("message") or ""), target=data.get("target"),
                   title=data.get("title"), weight=float(data.get("weight") or 1.0),
                   visibility=str(data.get("visibility") or "public"),
                   feedback=str(data.get("feedback") or "full"),
                   details=dict(data.get("details") or {}))


@dataclass
class QuestionResult:
    """A handout question: its checks and the points they earned."""

    id: str
    title: str
    score: float
    max_score: float
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def assessed_max_score(self) -> float:
        if self.complete:
            return self.max_score   # exact, not a sum of rounded shares
        return sum(c.max_score for c in self.checks if c.assessed)

    @property
    def assessed(self) -> bool:
        """True when at least one of its checks ran in this mode."""
        return any(c.assessed for c in self.checks)

    @property
    def complete(self) -> bool:
        """Every check ran, so the score is out of the question's full points."""
        return all(c.assessed for c in self.checks)

    @property
    def full_marks(self) -> bool:
        return self.max_score > 0 and self.score >= self.max_score - EPS

    @property
    def internal(self) -> list[CheckResult]:
        return [c for c in self.checks if c.status == "internal"]

    @property
    def review(self) -> list[CheckResult]:
        return [c for c in self.checks if c.status == "review"]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QuestionResult:
        return cls(id=str(data.get("id")), title=str(data.get("title") or ""),
                   score=float(data.get("score") or 0.0),
                   max_score=float(data.get("max_score") or 0.0),
                   checks=[CheckResult.from_dict(c) for c in data.get("checks") or ()])


@dataclass
class SubmissionInfo:
    """What was graded: the path given, its kind, its content hash and the files inside."""

    path: str
    kind: str = "file"
    sha256: str = ""
    files: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    origin: Origin = field(default_factory=Origin)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SubmissionInfo:
        return cls(path=str(data.get("path") or ""), kind=str(data.get("kind") or "file"),
                   sha256=str(data.get("sha256") or ""),
                   files=[str(f) for f in data.get("files") or ()],
                   ignored=[str(f) for f in data.get("ignored") or ()],
                   notes=[str(n) for n in data.get("notes") or ()],
                   origin=Origin.from_dict(data.get("origin")))


@dataclass
class Adjustment:
    """A change to the score made after the checks, always shown beside it, never folded
    silently into it: a late penalty, a course staff override."""

    kind: str                 # "late" | "override"
    points: float             # added to the score: negative for a deduction
    reason: str               # one line a student can read
    target: str | None = None  # a question id (or "question/check"); None: the whole submission
    by: str | None = None
    at: str | None = None      # ISO 8601
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Adjustment:
        return cls(kind=str(data.get("kind") or "override"),
                   points=float(data.get("points") or 0.0),
                   reason=str(data.get("reason") or ""), target=data.get("target"),
                   by=data.get("by"), at=data.get("at"), details=dict(data.get("details") or {}))


@dataclass
class RubricInfo:
    """Which rubric graded the submission (its hash is part of the result key)."""

    id: str
    title: str = ""
    sha256: str = ""
    path: str | None = None
    max_score: float = 0.0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RubricInfo:
        return cls(id=str(data.get("id") or ""), title=str(data.get("title") or ""),
                   sha256=str(data.get("sha256") or ""), path=data.get("path"),
                   max_score=float(data.get("max_score") or 0.0))


@dataclass
class Result:
    """The record of one graded submission (result.json)."""

    student: str
    submission: SubmissionInfo
    rubric: RubricInfo
    status: str
    score: float
    max_score: float
    questions: list[QuestionResult] = field(default_factory=list)
    error: Problem | None = None          # why not graded (error) / what failed (internal)
    problems: list[Problem] = field(default_factory=list)
    checks_mode: str = "static"
    public_only: bool = False
    neutralised: list[dict[str, Any]] = field(default_factory=list)
    environment: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    resources: dict[str, float] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    graded_at: str | None = None
    key: str = ""
    adjustments: list[Adjustment] = field(default_factory=list)
    schema: int = SCHEMA

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown result status {self.status!r}; expected {STATUSES}")

    # -- what readers ask ----------------------------------------------------------------------
    @property
    def assessed_max_score(self) -> float:
        return sum(q.assessed_max_score for q in self.questions)

    @property
    def complete(self) -> bool:
        """Every question was assessed in full: the score is out of `max_score`."""
        return bool(self.questions) and all(q.complete for q in self.questions)

    @property
    def adjustment_points(self) -> float:
        return sum(a.points for a in self.adjustments)

    @property
    def final_score(self) -> float:
        """The score after every adjustment (late penalty, staff override), never below 0:
        what exports upload. `score` stays what the checks earned."""
        return round(max(0.0, self.score + self.adjustment_points), 6)

    @property
    def late(self) -> Adjustment | None:
        return next((a for a in self.adjustments if a.kind == "late"), None)

    @property
    def fraction(self) -> float:
        """Score over the points assessed in this run (0 when nothing was)."""
        assessed = self.assessed_max_score
        return self.score / assessed if assessed else 0.0

    @property
    def internal_checks(self) -> list[tuple[QuestionResult, CheckResult]]:
        return [(q, c) for q in self.questions for c in q.checks if c.status == "internal"]

    @property
    def unassessed_ids(self) -> list[str]:
        """Questions this run did not assess and no TA is asked to: blank, never zero."""
        return [q.id for q in self.questions if not q.assessed and not q.review]

    @property
    def review_ids(self) -> list[str]:
        """Questions with a check awaiting a TA."""
        return [q.id for q in self.questions if q.review]

    @property
    def needs_review(self) -> list[tuple[QuestionResult, CheckResult]]:
        """Checks measured but not judgeable automatically: a TA decides them."""
        return [(q, c) for q in self.questions for c in q.checks if c.status == "review"]

    @property
    def needs_attention(self) -> bool:
        """A grader failure or a check awaiting review: a TA should look before release."""
        return self.status == "internal" or bool(self.needs_review)

    def question(self, qid: Any) -> QuestionResult | None:
        return next((q for q in self.questions if q.id == str(qid)), None)

    @property
    def wall_s(self) -> float | None:
        for value in (self.timings.get("total_s"), self.resources.get("wall_s")):
            if isinstance(value, int | float):
                return float(value)
        return None

    # -- constructors ---------------------------------------------------------------------------
    @classmethod
    def graded(cls, *, student: str, submission: SubmissionInfo, rubric: RubricInfo,
               questions: list[QuestionResult], problems: list[Problem],
               **context: Any) -> Result:
        """A submission whose checks ran. Its status follows from the verdicts: `internal`
        when the grader failed anywhere, `error` when every check that ran hit a failure of
        the submission, else `graded`."""
        score = sum(q.score for q in questions)
        statuses = {c.status for q in questions for c in q.checks if c.assessed}
        internal = [p for p in problems if p.kind == "internal"]
        if internal or "internal" in statuses:
            status, error = "internal", (internal[0] if internal else Problem(
                "internal", "the grader could not complete some checks: " + ", ".join(
                    f"{q.id} {c.id}" for q in questions for c in q.internal)))
        elif statuses and not statuses & {"passed", "failed"}:
            status, error = "error", (problems[0] if problems else next(
                (c.problem for q in questions for c in q.checks if c.problem), None))
        else:
            status, error = "graded", None
        return cls(student=student, submission=submission, rubric=rubric, status=status,
                   score=round(score, 6), max_score=rubric.max_score, questions=questions,
                   error=error, problems=problems, **context)

    @classmethod
    def not_gradable(cls, *, student: str, submission: SubmissionInfo, rubric: RubricInfo,
                     problem: Problem, questions: list[QuestionResult] | None = None,
                     **context: Any) -> Result:
        """A submission that could not be graded at all because of itself (corrupt, unsafe)."""
        return cls(student=student, submission=submission, rubric=rubric, status="error",
                   score=0.0, max_score=rubric.max_score, questions=list(questions or []),
                   error=problem, problems=[problem], **context)

    @classmethod
    def internal_failure(cls, *, student: str, submission: SubmissionInfo, rubric: RubricInfo,
                         message: str, exc: BaseException | None = None,
                         previous: Result | None = None, **context: Any) -> Result:
        """The grader failed on this submission. What was graded before the failure (a
        `previous` result whose report could not be rendered, say) is kept."""
        problem = Problem("internal", message,
                          traceback=staff_traceback(exc) if exc is not None else [])
        if previous is not None:
            kept = {f.name: getattr(previous, f.name) for f in fields(previous)}
            kept.update(status="internal", error=problem,
                        problems=[*previous.problems, problem])
            return cls(**kept)
        return cls(student=student, submission=submission, rubric=rubric, status="internal",
                   score=0.0, max_score=rubric.max_score, error=problem, problems=[problem],
                   **context)

    # -- serialisation --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The JSON form of result.json (docs/results.md describes every field)."""
        out: dict[str, Any] = {"schema": self.schema, "student": self.student,
                               "submission": asdict(self.submission),
                               "rubric": asdict(self.rubric), "status": self.status,
                               "error": self.error.to_dict() if self.error else None,
                               "checks_mode": self.checks_mode, "public_only": self.public_only,
                               "score": round(self.score, 6),
                               "max_score": self.max_score,
                               "assessed_max_score": round(self.assessed_max_score, 6),
                               "questions": [], "problems": [p.to_dict() for p in self.problems],
                               "neutralised": list(self.neutralised),
                               "environment": self.environment, "timings": self.timings,
                               "resources": self.resources, "options": self.options,
                               "graded_at": self.graded_at, "key": self.key,
                               "adjustments": [asdict(a) for a in self.adjustments],
                               "final_score": self.final_score}
        for q in self.questions:
            out["questions"].append({
                "id": q.id, "title": q.title, "score": round(q.score, 6),
                "max_score": q.max_score,
                "assessed_max_score": round(q.assessed_max_score, 6),
                "checks": [asdict(c) for c in q.checks]})
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Result:
        """Read a result of any schema this project has written."""
        schema = int(data.get("schema") or 1)
        if schema > SCHEMA:
            raise ValueError(f"result schema {schema} is newer than this grader ({SCHEMA})")
        error = _problem(data.get("error"))
        status = str(data.get("status") or "graded")
        questions = [QuestionResult.from_dict(q) for q in data.get("questions") or ()]
        if schema == 1:
            # Schema 1 said "error" for grader failures too, telling them apart by the kind.
            internal = any(c.status == "internal" for q in questions for c in q.checks)
            if (error is not None and error.kind == "internal") or internal:
                status = "internal"
        return cls(student=str(data.get("student") or "student"),
                   submission=SubmissionInfo.from_dict(data.get("submission") or {}),
                   rubric=RubricInfo.from_dict(data.get("rubric") or {}),
                   status=status if status in STATUSES else "internal",
                   score=float(data.get("score") or 0.0),
                   max_score=float(data.get("max_score") or 0.0),
                   questions=questions, error=error,
                   problems=_problems(data.get("problems")),
                   checks_mode=str(data.get("checks_mode") or "static"),
                   public_only=bool(data.get("public_only")),
                   neutralised=[dict(n) for n in data.get("neutralised") or ()],
                   environment=dict(data.get("environment") or {}),
                   timings=dict(data.get("timings") or {}),
                   resources=dict(data.get("resources") or {}),
                   options=dict(data.get("options") or {}),
                   graded_at=data.get("graded_at"), key=str(data.get("key") or ""),
                   adjustments=[Adjustment.from_dict(a) for a in data.get("adjustments") or ()])

    @classmethod
    def from_json(cls, text: str) -> Result:
        return cls.from_dict(json.loads(text))


@dataclass
class Graded:
    """What grading one submission produces: the record and the files it refers to."""

    result: Result
    artifacts: dict[str, bytes] = field(default_factory=dict)


# What each field of the record means, for docs/results.md (generated by grader.result_docs;
# a test fails when a field has no entry here or the page is stale).
FIELD_DOCS: dict[str, dict[str, str]] = {
    "Result": {
        "schema": "the record's schema version (this grader writes 2; 1 is still read)",
        "student": "the student id: the file or folder stem, the rubric's `student_pattern`, "
                   "or the id the batch chose",
        "submission": "what was graded (below)",
        "rubric": "which rubric graded it (below)",
        "status": "`graded`: verdicts were made; `error`: nothing could be graded because of "
                  "the submission itself; `internal`: the grader failed somewhere for this "
                  "student (what was graded is kept; a TA should look)",
        "score": "points earned, over the checks that ran",
        "max_score": "the rubric's points",
        "assessed_max_score": "points of the checks that ran in this mode (derived: questions "
                              "with none are \"not assessed\", shown blank, never 0)",
        "questions": "one entry per rubric question, in rubric order (below)",
        "error": "a Problem: why nothing was graded (`error`) or what failed (`internal`, with "
                 "the staff traceback)",
        "problems": "every located failure of the student's code, and the grader's own",
        "checks_mode": "`static` or `all` (training checks run)",
        "public_only": "true for a student's self-check (hidden checks not run)",
        "neutralised": "top-level lines the grader did not run: `{cell, line, what}`",
        "environment": "grader, python, torch, numpy versions, platform, device, seeds and the "
                       "sandbox isolation in force",
        "timings": "seconds: total, ingest, sandbox, training, fine-tuning, checks",
        "resources": "summed sandbox wall and CPU seconds, peak memory in bytes",
        "options": "the grading options (data, colours, limits, device, ...)",
        "graded_at": "when, ISO 8601 UTC",
        "key": "sha256 of the submission's bytes, rubric, reference, grader version and the "
               "options that change a grade: a result with the same key is reused",
        "adjustments": "changes made after the checks, each shown as its own line: a late "
                       "penalty (recomputed every batch from the submission time, the rubric's "
                       "`late` policy and the extensions) (below)",
        "final_score": "score plus every adjustment, never below 0 (derived): what exports "
                       "upload",
    },
    "SubmissionInfo": {
        "path": "the path given (a batch records the original, not its temporary copy)",
        "kind": "`notebook`, `python`, `folder`, `zip`, `unreadable`",
        "sha256": "sha256 over the files read (name, size, bytes)",
        "files": "the files graded",
        "ignored": "entries of a folder or zip not read, with why",
        "notes": "what the reader noticed (an HTML page around the code, an id that did not "
                 "match the pattern)",
        "origin": "where it came from: the download layout and what it says (below)",
    },
    "Origin": {
        "layout": "`folder`, `markus`, `canvas` or `gradescope` (`grader grade --layout`)",
        "name": "the student's name, where the layout gives it",
        "submitted_at": "when it was submitted, ISO 8601 with offset, where the layout says",
        "lms_id": "the LMS's own submission id",
        "lms_late": "the LMS marked it late (Canvas's `LATE`); null when it does not say",
        "earlier": "earlier submissions of the same student, not graded (below)",
    },
    "Earlier": {
        "path": "the file or folder", "submitted_at": "when, where known",
        "lms_id": "the LMS's submission id",
    },
    "Adjustment": {
        "kind": "`late` (the rubric's late policy) or `override` (course staff)",
        "points": "added to the score (negative: a deduction)",
        "reason": "one line shown in the report, the gradebook and the exports",
        "target": "a question id, or null for the whole submission",
        "by": "who made it (overrides)", "at": "when, ISO 8601",
        "details": "for `late`: deadline, submitted_at, hours_late, grace_hours, "
                   "extension, units_charged, percent",
    },
    "RubricInfo": {
        "id": "the rubric's id", "title": "its title", "sha256": "sha256 of its text",
        "path": "its file", "max_score": "its total points",
    },
    "QuestionResult": {
        "id": "the handout's number, e.g. `4.1`", "title": "its title",
        "score": "points earned", "max_score": "the handout's points",
        "assessed_max_score": "points of its checks that ran (derived)",
        "checks": "its checks, in rubric order (below)",
    },
    "CheckResult": {
        "id": "unique within the question (defaults to the kind)",
        "kind": "the registered check kind (its `details` below)",
        "status": "`passed`, `failed` (possibly partial credit), `error` (the student's code "
                  "raised, hung or ran out of memory), `skipped` (not run in this mode), "
                  "`internal` (the grader failed: never the student's fault), `review` "
                  "(measured but not judgeable automatically: no points until a TA looks)",
        "score": "points earned", "max_score": "the question's points times this check's "
                                                "share of the weights",
        "message": "the verdict in a TA's words",
        "target": "the class or function under test",
        "title": "the rubric's title for the check (else the kind's)",
        "weight": "its weight within the question",
        "visibility": "`public` or `hidden`",
        "feedback": "what a student sees of a hidden check: `full`, `verdict`, `none`",
        "details": "kind-specific evidence (below)",
    },
    "Problem": {
        "kind": "`syntax`, `missing`, `exception`, `timeout`, `memory`, `crashed`, "
                "`corrupt`, `limit`, `internal`",
        "message": "what went wrong, for the student",
        "cell": "the 1-based cell of the submission (or null)",
        "line": "the line in that cell (or null)",
        "traceback": "the student's own frames only ('cell 12, line 4: code'); for `internal`, "
                     "the grader's traceback, shown to staff only",
        "file": "the file, when the submission has several or is a `.py` module",
        "hint": "names the student may have meant",
    },
}

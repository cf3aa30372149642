"""Grade every mutant of a rubric's reference notebook and say which ones the rubric misses.

`audit(rubric, grade)` grades the unmodified reference first (the baseline: it must earn every
point assessed in this mode), then each mutant, and compares check by check. A bug-mutant is
*caught* when some check scores below the baseline; an equivalent rewrite is *kept* when it still
earns full marks. The grading itself is a callable, `grade(path, student) -> result dict`, so the
audit runs the real pipeline (`grader.pipeline.Grader`) without depending on how it is built.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from grader.audit.mutants import Mutant, mutants_for, reference_notebook_path
from grader.result import CheckResult, Result, SubmissionInfo

GradeFn = Callable[[Path, str], Result]
EPS = 1e-9
BASELINE = "reference"

# verdict -> (passes the audit, meaning)
VERDICTS = {
    "caught": (True, "a bug the rubric takes points off for"),
    "kept": (True, "an equivalent rewrite that keeps full marks"),
    "not assessed": (True, "every check of its target is skipped in this mode"),
    "missed": (False, "a bug that loses no points: the rubric cannot see it"),
    "penalised": (False, "an equivalent rewrite that loses points"),
    "grader failure": (False, "the grader failed on it (internal status or an exception)"),
}


@dataclass
class CheckOutcome:
    """One check of one mutant's result, next to the baseline's score for it."""

    question: str
    check: str
    kind: str
    target: str | None
    status: str
    score: float
    max_score: float
    baseline_score: float
    message: str

    @property
    def lost(self) -> float:
        return max(0.0, self.baseline_score - self.score)

    @property
    def label(self) -> str:
        return f"{self.question}/{self.check}"


@dataclass
class MutantResult:
    mutant: Mutant
    verdict: str
    score: float
    assessed_max: float
    baseline_score: float
    checks: list[CheckOutcome]
    seconds: float
    diff: str = ""
    note: str = ""

    @property
    def ok(self) -> bool:
        return VERDICTS[self.verdict][0]

    @property
    def lost_checks(self) -> list[CheckOutcome]:
        return [c for c in self.checks if c.lost > EPS]

    @property
    def internal_checks(self) -> list[CheckOutcome]:
        return [c for c in self.checks if c.status == "internal"]

    def to_dict(self) -> dict[str, Any]:
        m = self.mutant
        return {"id": m.id, "target": m.target, "category": m.category,
                "description": m.description, "equivalent": m.equivalent,
                "verdict": self.verdict, "ok": self.ok, "score": self.score,
                "assessed_max": self.assessed_max, "baseline_score": self.baseline_score,
                "lost": [{"check": c.label, "kind": c.kind, "target": c.target,
                          "status": c.status, "lost": c.lost, "message": c.message}
                         for c in self.lost_checks],
                "internal": [c.label for c in self.internal_checks],
                "seconds": self.seconds, "note": self.note, "diff": self.diff}


@dataclass
class AuditReport:
    rubric_id: str
    rubric_title: str
    checks_mode: str
    reference: str
    baseline_score: float
    baseline_assessed_max: float
    baseline_problems: list[str]
    results: list[MutantResult]
    wall_s: float
    checks: list[str] = field(default_factory=list)   # every check label, rubric order

    @property
    def baseline_ok(self) -> bool:
        return not self.baseline_problems

    @property
    def ok(self) -> bool:
        return self.baseline_ok and all(r.ok for r in self.results)

    def count(self, verdict: str) -> int:
        return sum(r.verdict == verdict for r in self.results)

    @property
    def bugs(self) -> list[MutantResult]:
        return [r for r in self.results if not r.mutant.equivalent]

    @property
    def equivalents(self) -> list[MutantResult]:
        return [r for r in self.results if r.mutant.equivalent]

    def catches_by_check(self) -> dict[str, int]:
        """How many bug-mutants each check took points off: which checks earn their keep."""
        counts = dict.fromkeys(self.checks, 0)
        for r in self.bugs:
            for c in r.lost_checks:
                counts[c.label] = counts.get(c.label, 0) + 1
        return counts

    def only_catcher(self) -> dict[str, list[str]]:
        """Check -> bug-mutants that no other check catches (the rubric's single points)."""
        out: dict[str, list[str]] = {}
        for r in self.bugs:
            lost = r.lost_checks
            if len({c.label for c in lost}) == 1:
                out.setdefault(lost[0].label, []).append(r.mutant.id)
        return out

    def summary(self) -> dict[str, Any]:
        return {"mutants": len(self.results), "bugs": len(self.bugs),
                "caught": self.count("caught"), "missed": self.count("missed"),
                "not_assessed": self.count("not assessed"),
                "equivalents": len(self.equivalents), "kept": self.count("kept"),
                "penalised": self.count("penalised"),
                "grader_failures": self.count("grader failure"), "ok": self.ok,
                "wall_s": self.wall_s}

    def to_dict(self) -> dict[str, Any]:
        return {"rubric": {"id": self.rubric_id, "title": self.rubric_title},
                "checks_mode": self.checks_mode, "reference": self.reference,
                "baseline": {"score": self.baseline_score,
                             "assessed_max": self.baseline_assessed_max,
                             "problems": self.baseline_problems},
                "summary": self.summary(), "catches_by_check": self.catches_by_check(),
                "mutants": [r.to_dict() for r in self.results]}


def _flatten(result: Result) -> dict[str, tuple[str, CheckResult]]:
    return {f"{q.id}/{c.id}": (q.id, c) for q in result.questions for c in q.checks}


def _baseline_problems(result: Result) -> list[str]:
    problems = []
    if result.status != "graded":
        message = result.error.message if result.error else "unknown error"
        problems.append(f"the reference was not graded: {message}")
    for label, (_, c) in _flatten(result).items():
        if c.status not in ("passed", "skipped"):
            problems.append(f"{label}: {c.status}: {c.message}")
    score, assessed = result.score, result.assessed_max_score
    if score + 1e-6 < assessed and not problems:
        problems.append(f"the reference scores {score:.3f} of {assessed:.3f} assessed points")
    return problems


def judge(mutant: Mutant, result: Result, baseline: Result,
          seconds: float = 0.0, diff: str = "") -> MutantResult:
    """Compare one mutant's result with the baseline's, check by check."""
    base = _flatten(baseline)
    mine = _flatten(result)
    checks = []
    for label, (question, b) in base.items():
        c = mine[label][1] if label in mine else CheckResult(
            id=b.id, kind=b.kind, status="missing", score=0.0, max_score=b.max_score,
            message="check not in result")
        checks.append(CheckOutcome(
            question=question, check=b.id, kind=b.kind, target=b.target, status=c.status,
            score=c.score, max_score=b.max_score, baseline_score=b.score, message=c.message))
    score = result.score
    assessed = result.assessed_max_score
    res = MutantResult(mutant, "", score, assessed, baseline.score, checks, seconds, diff)
    lost = [c for c in res.lost_checks if c.status != "internal"]
    internal = res.internal_checks
    graded = result.status == "graded"
    grader_fault = result.status == "internal"
    if not graded:
        err = result.error
        res.note = (f"not graded ({err.kind if err else 'error'}): "
                    f"{err.message if err else ''}")
    target_checks = [c for c in checks if c.target == mutant.target]
    assessed_here = [c for c in target_checks if base[c.label][1].status != "skipped"
                     and c.status != "skipped"]
    if mutant.equivalent:
        full = graded and not res.lost_checks and score + 1e-6 >= res.baseline_score
        res.verdict = ("grader failure" if internal or grader_fault else
                       "kept" if full else "penalised")
    elif lost or result.status == "error":
        res.verdict = "caught"
    elif internal or grader_fault:
        res.verdict = "grader failure"
    elif not assessed_here:
        res.verdict = "not assessed"
        skipped = sorted({c.kind for c in target_checks})
        res.note = (f"the checks of `{mutant.target}` ({', '.join(skipped) or 'none'}) are "
                    f"skipped in this mode")
    else:
        res.verdict = "missed"
    return res


def _write(notebook: dict[str, Any], path: Path) -> Path:
    nbformat.validate(nbformat.from_dict(notebook))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def audit(rubric: Any, grade: GradeFn, *, mutants: Sequence[Mutant] | None = None,
          reference: Path | str | None = None, out_dir: Path | str | None = None,
          workers: int = 1, checks_mode: str = "static",
          progress: Callable[[MutantResult], None] | None = None) -> AuditReport:
    """Grade the reference and every mutant of `rubric` (a loaded Rubric) with `grade`.

    Mutated notebooks are written to `out_dir/mutants/<id>.ipynb` (a temporary folder when
    None) so a TA can open the exact file behind any verdict. With `workers > 1`, `grade` is
    called from that many threads at once and must be safe for that.
    """
    started = time.monotonic()
    ref_path = Path(reference) if reference else reference_notebook_path(rubric.id)
    notebook = json.loads(ref_path.read_text(encoding="utf-8"))
    chosen = list(mutants if mutants is not None else mutants_for(rubric))
    mutated = {m.id: m.apply(notebook) for m in chosen}   # every edit applies, or nothing runs
    tmp = None
    if out_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="grader-audit-")
        folder = Path(tmp.name)
    else:
        folder = Path(out_dir) / "mutants"
    try:
        base_path = _write(notebook, folder / f"{BASELINE}.ipynb")
        baseline = grade(base_path, BASELINE)
        paths = {mid: _write(nb, folder / f"{mid}.ipynb") for mid, nb in mutated.items()}

        def one(m: Mutant) -> MutantResult:
            t = time.monotonic()
            try:
                result = grade(paths[m.id], m.id)
            except Exception as exc:  # the grade callable itself failed: a grader failure
                failed = Result.internal_failure(
                    student=m.id, submission=SubmissionInfo(path=str(paths[m.id])),
                    rubric=baseline.rubric, message=repr(exc), exc=exc)
                res = judge(m, failed, baseline)
                res.note = f"grade() raised {exc!r}"
            else:
                res = judge(m, result, baseline, diff=m.diff(notebook))
            res.seconds = time.monotonic() - t
            if progress:
                progress(res)
            return res

        if workers > 1:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                results = list(pool.map(one, chosen))
        else:
            results = [one(m) for m in chosen]
    finally:
        if tmp is not None:
            tmp.cleanup()
    return AuditReport(
        rubric_id=rubric.id, rubric_title=getattr(rubric, "title", rubric.id),
        checks_mode=baseline.checks_mode or checks_mode, reference=str(ref_path),
        baseline_score=baseline.score,
        baseline_assessed_max=baseline.assessed_max_score,
        baseline_problems=_baseline_problems(baseline), results=results,
        wall_s=time.monotonic() - started, checks=list(_flatten(baseline)))

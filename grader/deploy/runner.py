"""Inside Gradescope's image: grade `<root>/submission` and write `<root>/results/results.json`.

The promise is the file itself: whatever fails (the bundle, the rubric, the grader), a valid
results.json is written, at worst a 0-point one that tells the student course staff will review
it, with the details for staff on stdout (Gradescope keeps stdout for instructors only). A
failure of the student's code is an ordinary graded result with located feedback.
"""

from __future__ import annotations

import json
import resource
import time
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grader.deploy.config import CONFIG_NAME, BundleConfig, source_dir
from grader.deploy.cpus import usable_cpus
from grader.deploy.metadata import METADATA_NAME, SubmissionMetadata
from grader.files import atomic_write_text
from grader.reports.gradescope import md_text, to_gradescope, validate_gradescope
from grader.result import Adjustment, Result
from grader.rubric.schema import GradescopeSettings

if TYPE_CHECKING:
    from grader.late import LatePolicy

FAILED_NAME = "The grader failed on this submission"
FALLBACK_STUDENT = "submission"


def failure_document(why: str, max_score: float, rubric_id: str | None = None,
                     detail: str | None = None) -> dict[str, Any]:
    """The 0-point results.json of a run the grader could not complete (never the student's
    fault): one visible test out of the assessed points, so the student sees what is missing.
    `why` is shown to the student; `detail` (an exception's text) only to staff."""
    message = ("**The autograder could not finish grading this submission.** Course staff "
               "will review it; this is not your fault and you do not need to resubmit "
               f"({md_text(why)}).")
    return {"score": 0.0, "output": message, "output_format": "md",
            "test_output_format": "md", "visibility": "visible", "stdout_visibility": "hidden",
            "tests": [{"name": FAILED_NAME, "score": 0.0, "max_score": round(max_score, 6),
                       "status": "failed", "output": message, "visibility": "visible"}],
            "extra_data": {"status": "internal", "rubric": rubric_id,
                           "grader_failure": detail or why}}


@dataclass
class AutograderRun:
    """One autograder run: what it wrote and what staff should read in its log."""

    document: dict[str, Any]
    result: Result | None = None
    log: list[str] = field(default_factory=list)


def submission_path(folder: Path) -> Path:
    """What to grade: the submission folder, or the one zip in it when it holds no code (an
    upload Gradescope did not unpack)."""
    files = [p for p in folder.iterdir() if p.is_file()] if folder.is_dir() else []
    code = [p for p in files if p.suffix.lower() in (".ipynb", ".py")]
    zips = [p for p in files if p.suffix.lower() == ".zip"]
    return zips[0] if not code and len(zips) == 1 else folder


def read_metadata(root: Path, log: list[str]) -> SubmissionMetadata | None:
    """Gradescope's metadata; None (and a line for staff) when it is missing or unreadable,
    which costs only the name, the submission time and so any late penalty."""
    path = Path(root) / METADATA_NAME
    try:
        return SubmissionMetadata.read(path)
    except (OSError, ValueError) as exc:
        log.append(f"no usable {METADATA_NAME}: {exc}; no submission time, so no late penalty")
        return None


def grade(root: Path, config: BundleConfig, log: list[str]
          ) -> tuple[Result, GradescopeSettings]:
    """Grade the submission with the bundle's rubric and options, the late line applied; with
    the rubric's Gradescope settings."""
    from grader.pipeline import Grader
    from grader.rubric.compile import load_compiled
    from grader.rubric.schema import load_rubric

    source = source_dir(root)
    rubric = load_rubric(source / config.rubric)
    compiled = load_compiled(rubric, source / config.compiled, allow_compile=False)
    metadata = read_metadata(root, log)
    student = (metadata.student if metadata else None) or FALLBACK_STUDENT
    options = config.options(root, threads=usable_cpus())
    with Grader(rubric, options=options, compiled=compiled) as grader:
        graded = grader.grade_path(submission_path(Path(root) / "submission"), student=student)
    result = graded.result
    if metadata is not None:
        result = replace(result, submission=replace(result.submission,
                                                    origin=metadata.origin()))
    return with_late(result, rubric.late, log), rubric.gradescope


def with_late(result: Result, policy: LatePolicy | None, log: list[str]) -> Result:
    """The result with its late line; a submission time that cannot be read is a line that
    asks a TA to decide, never a failed run."""
    from grader.late import LateError, apply_late

    try:
        return apply_late(result, policy)
    except LateError as exc:
        log.append(f"late penalty not computed: {exc}")
        line = Adjustment(kind="late", points=0.0, details={"needs_review": True},
                          reason=f"the submission time could not be read ({exc}): no penalty "
                                 "computed; a TA decides")
        return replace(result, adjustments=[*result.adjustments, line])


def run(root: Path) -> AutograderRun:
    """Grade and write results.json; never raises (a failure is the 0-point document)."""
    root = Path(root)
    started = time.monotonic()
    log: list[str] = []
    result: Result | None = None
    config: BundleConfig | None = None
    try:
        config = BundleConfig.read(source_dir(root) / CONFIG_NAME)
        result, settings = grade(root, config, log)
        document = to_gradescope(result, settings, out_of=config.assessed_max_score)
        errors = validate_gradescope(document)
        if errors:
            raise ValueError("the grader made an invalid results.json: " + "; ".join(errors[:5]))
    except Exception as exc:   # the promise: a file, whatever failed
        log.append("the grader failed:")
        log.extend(traceback.format_exception(exc))
        document = failure_document(f"the grader stopped with {type(exc).__name__}",
                                    config.assessed_max_score if config else 0.0,
                                    config.rubric_id if config else None,
                                    detail=f"{type(exc).__name__}: {exc}"[:1000])
        result = None
    document.setdefault("execution_time", int(round(time.monotonic() - started)))
    atomic_write_text(root / "results" / "results.json",
                      json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    return AutograderRun(document, result, log)


def staff_summary(outcome: AutograderRun) -> list[str]:
    """What staff read in Gradescope's autograder output: the score, the sandbox, the time and
    memory this run took, and anything that went wrong."""
    doc = outcome.document
    lines = [f"score {doc['score']} ({doc['extra_data'].get('status')})"]
    result = outcome.result
    if result is not None:
        isolation = result.environment.get("isolation") or {}
        lines.append(f"student {result.student} ({result.submission.origin.name or 'no name'})"
                     f", submitted {result.submission.origin.submitted_at or 'at an unknown time'}")
        lines.append(f"sandbox: {isolation.get('mechanism', 'not started')}")
        lines.extend(f"  warning: {w}" for w in isolation.get("warnings") or ())
        lines.append("timings: " + ", ".join(f"{k} {v}" for k, v in result.timings.items()))
        lines.extend(f"adjustment: {a.points:+.2f} {a.reason}" for a in result.adjustments)
        if result.error is not None and result.error.traceback:
            lines.append(f"{result.error.kind}: {result.error.message}")
            lines.extend(result.error.traceback)
    lines.extend(line.rstrip("\n") for line in outcome.log)
    peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
               resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    lines.append(f"peak RSS of one process: {peak / 1024:.0f} MiB")
    return lines

"""Gradescope autograder `results.json` for one student, validated against the format.

Visibility mapping (ours -> Gradescope):

- public check                        -> "visible", with its message;
- hidden, feedback "full"             -> "after_published", with its message;
- hidden, feedback "verdict"          -> "after_published", verdict only (no message);
- hidden, feedback "none"             -> Gradescope hides a student's total whenever any test
  is "hidden", so by default these checks are summed into one visible test ("Other hidden
  checks": points only, no names, no messages) and the total stays visible. A rubric with
  `gradescope: {hide_total: true}` keeps them as individual "hidden" tests instead (staff see
  each; students see neither the checks nor their total).

Gradescope knows only passed/failed per test, so our error, skipped and internal verdicts are
"failed" with the reason in the output and our status in `extra_data`. Outputs are Markdown:
the student's code and tracebacks sit in code blocks, everything else is escaped text.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from grader.files import atomic_write_text
from grader.ingest.problems import Problem
from grader.reports.exports import ExportContext, exporter
from grader.reports.view import PROBLEM_KIND, check_title, location
from grader.result import CheckResult, Result
from grader.rubric.schema import GradescopeSettings

VISIBILITY = ["hidden", "after_due_date", "after_published", "visible"]
FORMATS = ["text", "html", "simple_format", "md", "ansi"]

# The results.json format, written from Gradescope's autograder documentation ("Autograder
# Specifications" / "results.json"). Unknown keys are rejected to catch typos early.
_TEST = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "score": {"type": "number", "description": "points earned on this test"},
        "max_score": {"type": "number", "minimum": 0, "description": "points possible"},
        "status": {"enum": ["passed", "failed"],
                   "description": "shown as a pass/fail marker; independent of the score"},
        "name": {"type": "string", "description": "test title"},
        "name_format": {"enum": FORMATS},
        "number": {"type": "string", "description": "ordering label such as '4.1.2'"},
        "output": {"type": "string", "description": "feedback shown with the test"},
        "output_format": {"enum": FORMATS},
        "tags": {"type": "array", "items": {"type": "string"}},
        "visibility": {"enum": VISIBILITY},
        "extra_data": {"type": "object"},
    },
}
GRADESCOPE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Gradescope autograder results.json",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "score": {"type": "number",
                  "description": "total points; when present it overrides the sum of tests"},
        "execution_time": {"type": "integer", "minimum": 0, "description": "seconds"},
        "output": {"type": "string", "description": "text shown above all tests"},
        "output_format": {"enum": FORMATS},
        "test_output_format": {"enum": FORMATS},
        "test_name_format": {"enum": FORMATS},
        "visibility": {"enum": VISIBILITY, "description": "visibility of the whole result"},
        "stdout_visibility": {"enum": VISIBILITY,
                              "description": "visibility of the autograder's stdout"},
        "extra_data": {"type": "object"},
        "tests": {"type": "array", "items": _TEST},
        "leaderboard": {"type": "array", "items": {
            "type": "object", "additionalProperties": False, "required": ["name", "value"],
            "properties": {"name": {"type": "string"},
                           "value": {"type": ["number", "string"]},
                           "order": {"enum": ["asc", "desc"]}}}},
    },
    # A score is needed somewhere: at the top, or on every test.
    "anyOf": [
        {"required": ["score"]},
        {"required": ["tests"],
         "properties": {"tests": {"type": "array", "items": {"required": ["score"]}}}},
    ],
}


def _type_ok(value: Any, kind: str) -> bool:
    return {"object": isinstance(value, dict), "array": isinstance(value, list),
            "string": isinstance(value, str),
            "number": isinstance(value, (int, float)) and not isinstance(value, bool),
            "integer": isinstance(value, int) and not isinstance(value, bool),
            "boolean": isinstance(value, bool), "null": value is None}.get(kind, False)


def structural_errors(doc: Any, schema: dict, path: str = "$") -> list[str]:
    """A small validator for the subset of JSON Schema used above (type, enum, required,
    properties, additionalProperties: false, items, minimum, anyOf). Used when the
    `jsonschema` package is not installed."""
    errors: list[str] = []
    kinds = schema.get("type")
    if kinds is not None:
        kinds = kinds if isinstance(kinds, list) else [kinds]
        if not any(_type_ok(doc, k) for k in kinds):
            return [f"{path}: expected {' or '.join(kinds)}, got {type(doc).__name__}"]
    if "enum" in schema and doc not in schema["enum"]:
        errors.append(f"{path}: {doc!r} is not one of {schema['enum']}")
    if "minimum" in schema and _type_ok(doc, "number") and doc < schema["minimum"]:
        errors.append(f"{path}: {doc} is below {schema['minimum']}")
    if isinstance(doc, dict):
        for key in schema.get("required", []):
            if key not in doc:
                errors.append(f"{path}: missing required '{key}'")
        props = schema.get("properties", {})
        for key, value in doc.items():
            if key in props:
                errors.extend(structural_errors(value, props[key], f"{path}.{key}"))
            elif schema.get("additionalProperties") is False:
                errors.append(f"{path}: unexpected key '{key}'")
    if isinstance(doc, list) and "items" in schema:
        for i, item in enumerate(doc):
            errors.extend(structural_errors(item, schema["items"], f"{path}[{i}]"))
    if "anyOf" in schema and not any(not structural_errors(doc, s, path)
                                     for s in schema["anyOf"]):
        errors.append(f"{path}: matches none of the allowed forms")
    return errors


def validate_gradescope(doc: dict) -> list[str]:
    """Problems with a results.json document ([] when valid); uses `jsonschema` if present."""
    try:
        import jsonschema
    except ImportError:
        return structural_errors(doc, GRADESCOPE_SCHEMA)
    validator = jsonschema.Draft202012Validator(GRADESCOPE_SCHEMA)
    return [f"$.{'.'.join(str(p) for p in e.absolute_path)}: {e.message}"
            for e in validator.iter_errors(doc)]


# -- Markdown ----------------------------------------------------------------------------------
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~])")
_CODE_SPAN = re.compile(r"(`[^`\n]+`)")   # the checks' messages quote code this way
POOLED_NAME = "Other hidden checks"


def _md_line(line: str) -> str:
    parts = _CODE_SPAN.split(line)   # odd indexes: code spans, kept as they are
    return "".join(part if i % 2 else _MD_SPECIAL.sub(r"\\\1", part)
                   for i, part in enumerate(parts))


def md_text(text: str) -> str:
    """Plain text as Markdown that renders as itself: `__init__`, `<locals>` and `a*b` must not
    turn into bold, tags or italics. Code in backticks stays code; line breaks are kept."""
    return "  \n".join(_md_line(line) for line in text.splitlines())


def md_code(lines: list[str]) -> str:
    """A fenced code block, its fence longer than any run of backticks inside."""
    longest = max((len(run) for line in lines for run in re.findall(r"`+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    return "\n".join([fence + "text", *lines, fence])


# -- one test per check ------------------------------------------------------------------------
def _test_visibility(check: CheckResult) -> str:
    if check.visibility != "hidden":
        return "visible"
    return "hidden" if check.feedback == "none" else "after_published"


def _pooled(check: CheckResult, settings: GradescopeSettings) -> bool:
    """A fully hidden check that goes into the one visible "Other hidden checks" test."""
    return (check.visibility == "hidden" and check.feedback == "none"
            and not settings.hide_total)


def _test_output(check: CheckResult) -> str:
    if check.visibility == "hidden" and check.feedback == "verdict":
        return "Hidden check: only its verdict is shared."
    parts = []
    if check.status == "internal":
        parts.append("The grader could not complete this check; course staff will review it. "
                     "This is not your fault.")
    if check.status == "review":
        parts.append("A TA will look at this check: until then it earns no points and costs "
                     "none.")
    if check.message and check.status not in ("internal", "review"):
        parts.append(md_text(check.message))
    problem = check.problem
    if problem is not None and problem.traceback:
        parts.append(md_code(problem.traceback))
    return "\n\n".join(parts)


def _check_test(question_id: str, question_title: str, number: int,
                check: CheckResult) -> dict[str, Any]:
    return {
        "score": round(check.score, 6),
        "max_score": round(check.max_score, 6) if check.assessed else 0.0,
        "status": "passed" if check.status == "passed" else "failed",
        "name": f"{question_id} {question_title}: {check_title(check)}".strip(),
        "number": f"{question_id}.{number}",
        "output": _test_output(check),
        "tags": [t for t in (check.kind, check.target) if t],
        "visibility": _test_visibility(check),
        "extra_data": {"check": check.id, "status": check.status},
    }


def _pooled_test(checks: list[CheckResult]) -> dict[str, Any]:
    """The fully hidden checks as one visible test: points only, nothing that names them."""
    return {"score": round(sum(c.score for c in checks), 6),
            "max_score": round(sum(c.max_score for c in checks if c.assessed), 6),
            "name": POOLED_NAME,
            "output": "Checks the course keeps hidden, counted together: only their combined "
                      "points are shown.",
            "visibility": "visible"}


# -- the top-level output ----------------------------------------------------------------------
def isolation_line(isolation: Mapping[str, Any]) -> str:
    """Which sandbox ran the student's code, in one line a student can read."""
    mechanism = isolation.get("mechanism") or isolation.get("method")
    if not mechanism:
        return "Sandbox: not recorded (none of your code was run)."
    if mechanism in ("bwrap", "bubblewrap"):
        return ("Sandbox: bubblewrap (no network, a private file system and process "
                "namespace, time and memory limits).")
    warnings = isolation.get("warnings") or []
    why = f" ({warnings[0]})" if warnings else ""
    return (f"Sandbox: {mechanism}: NO isolation was available in this container{why}; your "
            "code ran under time and memory limits only.")


def _signed(points: float) -> str:
    return f"{points:+.2f}".replace("-", "\u2212")


def _nothing_graded(result: Result) -> bool:
    """No verdict of its own: an unreadable submission (every check carries the one reason)
    or a grader failure before any check ran."""
    if not result.questions:
        return True
    if result.status != "error" or result.error is None:
        return False
    return all(c.status == "error" and c.message == result.error.message
               for q in result.questions for c in q.checks if c.assessed)


def _head(result: Result, out_of: float | None) -> str:
    if _nothing_graded(result):
        total = out_of if out_of is not None else (result.assessed_max_score
                                                   or result.max_score)
        return f"**Score: {result.score:.2f} / {total:.2f}**"
    if result.complete:
        return f"**Score: {result.score:.2f} / {result.max_score:.2f}**"
    return (f"**Score: {result.score:.2f} / {result.assessed_max_score:.2f}**, the points "
            f"assessed in this run ({result.max_score:.2f} in the rubric)")


def _problem_line(label: str, problem: Problem) -> str:
    where = location(problem)
    return f"{label}" + (f" at {where}" if where else "") + f": {md_text(problem.message)}"


def _overall_output(result: Result, out_of: float | None = None) -> str:
    """The Markdown above all tests: the score, any adjustment, what went wrong, the sandbox."""
    items: list[str] = []
    for adjustment in result.adjustments:
        label = "Late penalty" if adjustment.kind == "late" else "Adjustment"
        items.append(f"{label}: {_signed(adjustment.points)} points: "
                     f"{md_text(adjustment.reason)}")
    if result.adjustments:
        items.append(f"**Final score: {result.final_score:.2f}**")
    if not result.complete and not _nothing_graded(result):
        missing = result.unassessed_ids
        if missing:
            items.append("Not assessed in this run (not zero): " + ", ".join(missing))
        review = result.review_ids
        if review:
            items.append("A TA will review (not zero): " + ", ".join(review))
    if result.status == "internal":
        part = "part of this submission" if result.questions else "this submission"
        items.append(f"The grader failed on {part}; course staff will review it. This is not "
                     "your fault.")
    elif result.status == "error" and result.error is not None:
        items.append(_problem_line(PROBLEM_KIND.get(result.error.kind, "Not graded"),
                                   result.error))
    for p in result.problems:
        if p.kind != "internal" and p != result.error:
            items.append(_problem_line(PROBLEM_KIND.get(p.kind, p.kind), p))
    items.append(md_text(isolation_line(result.environment.get("isolation") or {})))
    return "\n".join([_head(result, out_of), "", *(f"- {item}" for item in items)])


def to_gradescope(result: Result, settings: GradescopeSettings | None = None, *,
                  out_of: float | None = None) -> dict[str, Any]:
    """The results.json document for one result (not written).

    `settings` are the rubric's (`Rubric.gradescope`); the default pools fully hidden checks
    so that Gradescope keeps the total visible. `out_of` is what this run's checks could give
    (the autograder knows it from its bundle), shown when the result itself cannot say: an
    unreadable submission, a grader failure before any check.

    Checks that did not run in this mode are left out: Gradescope would show them as 0. A check
    awaiting a TA's review is listed out of 0 points, so it is visible but not a zero. An
    unreadable submission is one test, not one per check with the same reason. `score` is the
    final score, after any late penalty, whose line is in the top-level output.
    """
    settings = settings or GradescopeSettings()
    tests: list[dict[str, Any]] = []
    pooled: list[CheckResult] = []
    listed = [] if _nothing_graded(result) else result.questions
    for q in listed:
        for i, c in enumerate(q.checks, 1):
            if not c.assessed and c.status != "review":
                continue
            if _pooled(c, settings):
                pooled.append(c)
            else:
                tests.append(_check_test(q.id, q.title, i, c))
    if pooled:
        tests.append(_pooled_test(pooled))
    if result.status == "error" or (result.status == "internal" and not tests):
        name = ("Submission could not be graded" if result.status == "error"
                else "The grader failed on this submission")
        if tests:   # the checks are listed and carry the points; this test only explains
            total = 0.0
        else:
            total = out_of if out_of is not None else (result.assessed_max_score
                                                       or result.max_score)
        tests.append({"score": 0.0, "max_score": round(total, 6), "status": "failed",
                      "name": name, "number": "0", "output": _overall_output(result, out_of),
                      "visibility": "visible"})
    isolation = result.environment.get("isolation") or {}
    doc: dict[str, Any] = {
        "score": result.final_score,
        "output": _overall_output(result, out_of),
        "output_format": "md",
        "test_output_format": "md",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {"student": result.student, "rubric": result.rubric.id,
                       "status": result.status, "key": result.key,
                       "checks_score": round(result.score, 6),
                       "assessed_max_score": round(result.assessed_max_score, 6),
                       "adjustments": [{"kind": a.kind, "points": a.points, "reason": a.reason}
                                       for a in result.adjustments],
                       "isolation": isolation.get("mechanism") or isolation.get("method")},
    }
    if result.wall_s is not None:
        doc["execution_time"] = int(round(result.wall_s))
    return doc


def export_gradescope(result: Result, path: Path, settings: GradescopeSettings | None = None,
                      *, out_of: float | None = None) -> dict[str, Any]:
    """Write Gradescope's results.json for one student; raises ValueError if it is invalid."""
    doc = to_gradescope(result, settings, out_of=out_of)
    errors = validate_gradescope(doc)
    if errors:
        raise ValueError("invalid Gradescope results.json: " + "; ".join(errors[:5]))
    atomic_write_text(Path(path), json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    return doc


@functools.lru_cache(maxsize=8)
def rubric_settings(path: str | None) -> GradescopeSettings:
    """The Gradescope settings of the rubric a result names; the defaults when it cannot be
    read (a stored result may outlive its rubric file)."""
    from grader.rubric.schema import load_rubric
    from grader.rubric.yamlpos import RubricError

    if not path or not Path(path).is_file():
        return GradescopeSettings()
    try:
        return load_rubric(path).gradescope
    except (RubricError, OSError, ValueError):
        return GradescopeSettings()


@exporter("gradescope", scope="student", always=True,
          help="<student>/results.json in Gradescope's autograder format (always written)")
def _export(result: Result, folder: Path, context: ExportContext) -> Path:
    path = folder / "results.json"
    export_gradescope(result, path, rubric_settings(result.rubric.path))
    return path

"""Gradescope autograder `results.json` for one student, validated against the format.

Visibility mapping (ours -> Gradescope):

- public check                        -> "visible", with its message;
- hidden, feedback "full"             -> "after_published", with its message;
- hidden, feedback "verdict"          -> "after_published", verdict only (no message);
- hidden, feedback "none"             -> "hidden": staff see it, students never do. Its score
  still counts in the total, as it does in our own report.

Gradescope knows only passed/failed per test, so our error, skipped and internal verdicts are
"failed" with the reason in the output and our status in `extra_data`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from grader.files import atomic_write_text
from grader.reports.exports import ExportContext, exporter
from grader.reports.view import PROBLEM_KIND, check_title, location
from grader.result import CheckResult, Result

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


def _test_visibility(check: CheckResult) -> str:
    if check.visibility != "hidden":
        return "visible"
    return "hidden" if check.feedback == "none" else "after_published"


def _test_output(check: CheckResult) -> str:
    if check.visibility == "hidden" and check.feedback == "verdict":
        return "Hidden check: only its verdict is shared."
    lines = []
    if check.status == "internal":
        lines.append("The grader could not complete this check; course staff will review it. "
                     "This is not your fault.")
    if check.status == "review":
        lines.append("A TA will look at this check: until then it earns no points and costs "
                     "none.")
    if check.message and check.status not in ("internal", "review"):
        lines.append(check.message)
    problem = check.problem
    if problem is not None and problem.traceback:
        lines.append("")
        lines.extend(problem.traceback)
    return "\n".join(lines)


def _overall_output(result: Result) -> str:
    if result.complete:
        lines = [f"Score {result.score:.2f} / {result.max_score:.2f}"]
    else:
        lines = [f"Score {result.score:.2f} of the {result.assessed_max_score:.2f} points "
                 f"assessed in this run ({result.max_score:.2f} in the rubric)"]
        missing = [q.id for q in result.questions if not q.assessed and not q.review]
        if missing:
            lines.append("Not assessed in this run (not zero): " + ", ".join(missing))
        review = [q.id for q in result.questions if q.review]
        if review:
            lines.append("A TA will review (not zero): " + ", ".join(review))
    if result.status == "internal":
        lines.append("The grader failed on part of this submission; course staff will review "
                     "it.")
    elif result.status == "error" and result.error is not None:
        where = location(result.error)
        lines.append(f"{PROBLEM_KIND.get(result.error.kind, 'Not graded')}: "
                     f"{result.error.message}" + (f" ({where})" if where else ""))
    for p in result.problems:
        if p.kind == "internal":
            continue
        where = location(p)
        lines.append(f"{PROBLEM_KIND.get(p.kind, p.kind)}" + (f" at {where}" if where else "")
                     + f": {p.message}")
    return "\n".join(lines)


def to_gradescope(result: Result) -> dict[str, Any]:
    """The results.json document for one result (not written).

    Checks that did not run in this mode are left out: Gradescope would show them as 0. A
    check awaiting a TA's review is listed out of 0 points, so it is visible but not a zero.
    """
    tests: list[dict[str, Any]] = []
    for q in result.questions:
        for i, c in enumerate(q.checks, 1):
            if not c.assessed and c.status != "review":
                continue
            tests.append({
                "score": round(c.score, 6),
                "max_score": round(c.max_score, 6) if c.assessed else 0.0,
                "status": "passed" if c.status == "passed" else "failed",
                "name": f"{q.id} {q.title}: {check_title(c)}".strip(),
                "number": f"{q.id}.{i}",
                "output": _test_output(c),
                "tags": [t for t in (c.kind, c.target) if t],
                "visibility": _test_visibility(c),
                "extra_data": {"check": c.id, "status": c.status},
            })
    if result.status == "error" or (result.status == "internal" and not tests):
        name = ("Submission could not be graded" if result.status == "error"
                else "The grader failed on this submission")
        tests.append({"score": 0.0, "max_score": result.max_score,
                      "status": "failed", "name": name,
                      "number": "0", "output": _overall_output(result), "visibility": "visible"})
    doc: dict[str, Any] = {
        "score": round(result.score, 6),
        "output": _overall_output(result),
        "output_format": "text",
        "test_output_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {"student": result.student, "rubric": result.rubric.id,
                       "status": result.status, "key": result.key,
                       "assessed_max_score": round(result.assessed_max_score, 6)},
    }
    if result.wall_s is not None:
        doc["execution_time"] = int(round(result.wall_s))
    return doc


def export_gradescope(result: Result, path: Path) -> dict[str, Any]:
    """Write Gradescope's results.json for one student; raises ValueError if it is invalid."""
    doc = to_gradescope(result)
    errors = validate_gradescope(doc)
    if errors:
        raise ValueError("invalid Gradescope results.json: " + "; ".join(errors[:5]))
    atomic_write_text(Path(path), json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    return doc


@exporter("gradescope", scope="student", always=True,
          help="<student>/results.json in Gradescope's autograder format (always written)")
def _export(result: Result, folder: Path, context: ExportContext) -> Path:
    path = folder / "results.json"
    export_gradescope(result, path)
    return path

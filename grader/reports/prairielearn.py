"""PrairieLearn external-grader `results.json` for one student, validated and kept under 1 MB.

PrairieLearn reads `/grade/results/results.json` after the grading container exits 0:
`score` in [0, 1] for a gradable submission, or `gradable: false` (with `format_errors`) for
one that is "invalid, not gradable": no score is recorded and no attempt is charged. Per-test
points are shown only when every test has both `points` and `max_points`, so every test here
has both. A file over 1 MiB fails the grading job, so long outputs are cut to fit.

What the student sees:

- score = final_score / max_score (after any late penalty or staff override); an adjustment is
  its own test (negative points out of 0, shown neutrally) and a line in `message`, so the
  points PrairieLearn adds up equal the final score;
- one test per rubric check, as the rubric lets students see it (`grader.reports.view`): a
  public check or a hidden one with feedback "full" in full; feedback "verdict": title and
  points only; feedback "none": summed into one "Other hidden checks" test, never named;
- `gradable: false` wherever every other export leaves the grade blank
  (`grader.reports.withheld`): a submission that could not be graded because of itself (fix
  it and submit again, no attempt lost), a grader failure (never charged to the student),
  checks awaiting a TA's review, and a run that did not assess every question. The tests and
  messages are still shown.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from grader.checks.registry import find
from grader.files import atomic_write_text
from grader.reports.exports import ExportContext, exporter
from grader.reports.gradescope import structural_errors
from grader.reports.view import PROBLEM_KIND, check_title, disclosure, location
from grader.reports.withheld import Withheld, withheld
from grader.result import CheckResult, Result

LIMIT_BYTES = 1024 * 1024          # PrairieLearn's grader host fails a larger results.json
POOLED_NAME = "Other hidden checks"
CUT_NOTE = "\n… [{cut} characters cut to keep results.json under PrairieLearn's 1 MB limit]"
SHORTENED = "Some output was shortened to fit PrairieLearn's 1 MB limit."
ADJUSTMENT_NAME = {"late": "Late penalty", "override": "Adjusted by course staff"}

# The results.json format, written from PrairieLearn's external grading documentation
# ("Grading results"). PrairieLearn itself accepts extra keys; this schema does not, to catch
# typos, and it requires points on every test so the per-test points are always displayed.
_IMAGE = {"type": ["string", "object"], "additionalProperties": False, "required": ["url"],
          "properties": {"url": {"type": "string", "description": "a data: URL"},
                         "label": {"type": "string"}}}
_TEST = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "points", "max_points"],
    "properties": {
        "name": {"type": "string"},
        "description": {"type": "string"},
        "points": {"type": "number", "description": "points earned (an adjustment: negative)"},
        "max_points": {"type": "number", "minimum": 0,
                       "description": "points possible; 0 is shown neutrally"},
        "message": {"type": "string"},
        "output": {"type": "string"},
        "images": {"type": "array", "items": _IMAGE},
    },
}
PRAIRIELEARN_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "PrairieLearn external grader results.json",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "gradable": {"type": "boolean",
                     "description": "false: invalid, not gradable; no attempt charged"},
        "score": {"type": "number", "minimum": 0, "maximum": 1},
        "format_errors": {"type": ["string", "array"], "items": {"type": "string"}},
        "message": {"type": "string"},
        "output": {"type": "string"},
        "images": {"type": "array", "items": _IMAGE},
        "tests": {"type": "array", "items": _TEST},
    },
    # Gradable (the default) needs a score; not gradable must say so explicitly.
    "anyOf": [
        {"required": ["score"], "properties": {"gradable": {"enum": [True]}}},
        {"required": ["gradable"], "properties": {"gradable": {"enum": [False]}}},
    ],
}


def encoded(doc: dict[str, Any]) -> str:
    """The text written to results.json (its UTF-8 size is what PrairieLearn limits)."""
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def size_bytes(doc: dict[str, Any]) -> int:
    return len(encoded(doc).encode("utf-8"))


def validate_prairielearn(doc: dict[str, Any]) -> list[str]:
    """Problems with a results.json document ([] when valid), its 1 MB limit included; uses
    `jsonschema` when installed."""
    try:
        import jsonschema
    except ImportError:
        errors = structural_errors(doc, PRAIRIELEARN_SCHEMA)
        score = doc.get("score") if isinstance(doc, dict) else None
        if isinstance(score, int | float) and not isinstance(score, bool) and score > 1:
            errors.append(f"$.score: {score} is above 1")
    else:
        validator = jsonschema.Draft202012Validator(PRAIRIELEARN_SCHEMA)
        errors = [f"$.{'.'.join(str(p) for p in e.absolute_path)}: {e.message}"
                  for e in validator.iter_errors(doc)]
    if isinstance(doc, dict) and not errors and size_bytes(doc) > LIMIT_BYTES:
        errors.append(f"$: {size_bytes(doc)} bytes, over PrairieLearn's {LIMIT_BYTES}")
    return errors


# -- tests -------------------------------------------------------------------------------------
def _check_message(check: CheckResult, level: str) -> str:
    if level == "verdict":
        return "Hidden check: only its verdict is shared."
    if check.status == "internal":
        return ("The grader could not complete this check; course staff will review it. This "
                "is not your fault.")
    if check.status == "review":
        return "A TA will look at this check: until then it earns no points and costs none."
    return check.message


def _check_test(question_id: str, question_title: str, check: CheckResult, level: str
                ) -> dict[str, Any]:
    """One visible check (`level` full or verdict)."""
    kind = find(check.kind)
    test: dict[str, Any] = {
        "name": f"{question_id} {question_title}: {check_title(check)}".strip(),
        "points": round(check.score, 6),
        "max_points": round(check.max_score, 6) if check.assessed else 0.0,
        "message": _check_message(check, level),
    }
    if kind is not None and kind.explains:
        test["description"] = kind.explains
    problem = check.problem
    if level == "full" and problem is not None and problem.kind != "internal" \
            and problem.traceback:
        test["output"] = "\n".join(problem.traceback)
    return test


def _pooled_test(checks: list[CheckResult]) -> dict[str, Any]:
    """The checks students may not see, as one test: their combined points, nothing else."""
    return {"name": POOLED_NAME,
            "points": round(sum(c.score for c in checks), 6),
            "max_points": round(sum(c.max_score for c in checks if c.assessed), 6),
            "message": f"{len(checks)} check(s) the course keeps hidden, counted together: "
                       "only their combined points are shown."}


def _tests(result: Result) -> list[dict[str, Any]]:
    tests: list[dict[str, Any]] = []
    pooled: list[CheckResult] = []
    for q in result.questions:
        for c in q.checks:
            if not c.assessed and c.status != "review":
                continue   # not run in this mode: not a zero, so not listed
            level = disclosure(c, "student")
            if level == "none":
                pooled.append(c)
            else:
                tests.append(_check_test(q.id, q.title, c, level))
    if pooled:
        tests.append(_pooled_test(pooled))
    running = result.score
    for a in result.adjustments:
        if not a.points:
            continue
        shown = max(a.points, -running)   # the final score never goes below 0
        running += shown
        note = "" if shown == a.points else f" (capped at {shown:+.2f}: a score is never below 0)"
        tests.append({"name": ADJUSTMENT_NAME.get(a.kind, "Adjustment"),
                      "points": round(shown, 6), "max_points": 0.0,
                      "message": a.reason + note})
    return tests


# -- the top of the page -----------------------------------------------------------------------
def _problem_line(kind: str, message: str, where: str) -> str:
    return f"{PROBLEM_KIND.get(kind, kind)}" + (f" ({where})" if where else "") + f": {message}"


def _format_errors(result: Result, why: Withheld) -> list[str]:
    """What PrairieLearn shows in red above an ungradable submission, for the student."""
    not_counted = "No score was recorded and this attempt was not counted."
    if why.kind == "error":
        lines = [_problem_line(p.kind, p.message, location(p))
                 for p in [result.error, *result.problems]
                 if p is not None and p.kind != "internal"]
        lines = list(dict.fromkeys(lines)) or ["The submission could not be graded."]
        return [*lines, f"{not_counted} Fix the problem above and submit again."]
    if why.kind == "internal":
        return [f"The grader failed on this submission. This is not your fault: course staff "
                f"have been told and will look at it. {not_counted}"]
    if why.kind == "review":
        review = ", ".join(dict.fromkeys(q.id for q, _ in result.needs_review))
        return [f"A TA must review question(s) {review} before this submission can be scored. "
                f"{not_counted}"]
    missing = ", ".join(q.id for q in result.questions if not q.complete) or "every question"
    return [f"Not every question was assessed in this grading run (not assessed: {missing}). "
            f"{not_counted}"]


def _message(result: Result, why: Withheld | None) -> str:
    """The score line (or why there is none), each adjustment, and what was not assessed."""
    if why is None:
        head = f"Score: {result.final_score:.2f} / {result.max_score:.2f}"
        if result.adjustments:
            head += f" (the checks earned {result.score:.2f})"
    elif why.kind in ("review", "incomplete"):
        head = (f"Not scored yet: the checks that ran earned {result.score:.2f} of "
                f"{result.assessed_max_score:.2f} points ({result.max_score:.2f} in all)")
    elif why.kind == "internal":
        head = "Not scored: the grader failed on this submission"
    else:
        head = "Not graded: the submission could not be graded"
    lines = [head]
    for a in result.adjustments:
        label = ADJUSTMENT_NAME.get(a.kind, "Adjustment")
        lines.append(f"{label}: {a.points:+.2f} points: {a.reason}" if a.points
                     else f"{label}: {a.reason}")
    missing = result.unassessed_ids
    if missing:
        lines.append("Not assessed in this run (not zero): " + ", ".join(missing))
    review = result.review_ids
    if review:
        lines.append("A TA will review (not zero): " + ", ".join(review))
    return "\n".join(lines)


def _output(result: Result) -> str:
    """The student's located failures with their own traceback frames (never the grader's)."""
    blocks = []
    for p in result.problems:
        if p.kind == "internal":
            continue
        blocks.append("\n".join([_problem_line(p.kind, p.message, location(p)), *p.traceback]))
    return "\n\n".join(blocks)


def to_prairielearn(result: Result) -> dict[str, Any]:
    """The results.json document for one result (not yet fitted to the size limit)."""
    why = withheld(result)
    doc: dict[str, Any] = {}
    if why is None:
        fraction = result.final_score / result.max_score if result.max_score else 0.0
        doc.update(gradable=True, score=round(min(1.0, max(0.0, fraction)), 6))
    else:
        doc.update(gradable=False, format_errors=_format_errors(result, why))
    doc["message"] = _message(result, why)
    output = _output(result)
    if output:
        doc["output"] = output
    doc["tests"] = _tests(result)
    return doc


# -- the size limit ----------------------------------------------------------------------------
def _text_fields(doc: dict[str, Any]) -> list[tuple[Any, Any]]:
    """The free texts that may be cut, as (container, key): messages and outputs of the doc
    and its tests, and each format error."""
    holders = [doc, *doc.get("tests", [])]
    fields: list[tuple[Any, Any]] = [(h, key) for h in holders for key in ("output", "message")
                                     if isinstance(h.get(key), str)]
    errors = doc.get("format_errors")
    if isinstance(errors, list):
        fields += [(errors, i) for i, text in enumerate(errors) if isinstance(text, str)]
    return fields


def _cut_to(doc: dict[str, Any], length: int) -> dict[str, Any]:
    """A copy of `doc` whose free texts are at most `length` characters, each saying how many
    it lost."""
    copy = json.loads(json.dumps(doc))
    for holder, key in _text_fields(copy):
        text = holder[key]
        if len(text) > length:
            holder[key] = text[:length] + CUT_NOTE.format(cut=len(text) - length)
    return copy


def fit(doc: dict[str, Any], limit: int = LIMIT_BYTES) -> dict[str, Any]:
    """`doc` cut to at most `limit` bytes, or `doc` itself when it fits. Every long text is cut
    to the same, largest length that fits (short ones stay whole, the long ones keep a fair
    share), each saying how much it lost, and the top message starts by saying so.
    Raises ValueError when even empty texts cannot fit (thousands of tests)."""
    if size_bytes(doc) <= limit:
        return doc
    marked = {**doc, "message": (SHORTENED + "\n" + doc.get("message", "")).rstrip("\n")}
    if size_bytes(_cut_to(marked, 0)) > limit:
        raise ValueError(f"results.json cannot be cut below {limit} bytes")
    low, high = 0, max(len(h[k]) for h, k in _text_fields(marked))
    while low < high:   # the longest length that fits
        middle = (low + high + 1) // 2
        if size_bytes(_cut_to(marked, middle)) <= limit:
            low = middle
        else:
            high = middle - 1
    return _cut_to(marked, low)


def export_prairielearn(result: Result, path: Path) -> dict[str, Any]:
    """Write PrairieLearn's results.json for one student; raises ValueError if invalid."""
    doc = fit(to_prairielearn(result))
    errors = validate_prairielearn(doc)
    if errors:
        raise ValueError("invalid PrairieLearn results.json: " + "; ".join(errors[:5]))
    atomic_write_text(Path(path), encoded(doc))
    return doc


@exporter("prairielearn", scope="student",
          help="<student>/prairielearn.json in PrairieLearn's external-grader results format "
               "(copy it to /grade/results/results.json)")
def _export(result: Result, folder: Path, context: ExportContext) -> Path:
    path = folder / "prairielearn.json"
    export_prairielearn(result, path)
    return path

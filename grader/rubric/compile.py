"""Compile a rubric's expectations from the reference into plain data.

`grader compile --rubric R` measures every reference class at the rubric's configurations
(through the very code path that observes students) and asks each check kind what it expects.
The result is JSON (`rubrics/compiled/<id>.json`), so a student's self-check reads numbers and
graphs, never the reference source. Training calibrations depend on the data a TA grades with,
so they are computed (and cached) at grading time instead.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import grader
from grader.checks.registry import Compiling, load_builtin
from grader.graph.observe import OBSERVE_SEED
from grader.rubric.schema import RUBRICS_DIR, CheckSpec, Question, Rubric, Target

COMPILED_DIR = RUBRICS_DIR / "compiled"
SCHEMA = 1


class CompileError(RuntimeError):
    """The compiled expectations cannot be produced or do not belong to this rubric."""


def check_uid(question: Question | str, spec: CheckSpec | str) -> str:
    """The key of one check in the compiled data and in results: `<question>/<check>`."""
    qid = question if isinstance(question, str) else question.id
    cid = spec if isinstance(spec, str) else spec.id
    return f"{qid}/{cid}"


# Top-level rubric sections that never change a verdict: editing them keeps the compiled
# expectations and every stored result (the late policy is applied after grading).
NOT_GRADING = ("late",)
_TOP_KEY = re.compile(r"^(?P<key>[A-Za-z_][\w-]*)\s*:")


def grading_text(text: str) -> str:
    """The rubric's text without its top-level sections that do not grade (`late`)."""
    kept: list[str] = []
    skipping = False
    for line in text.splitlines(keepends=True):
        match = _TOP_KEY.match(line)
        if match:
            skipping = match.group("key") in NOT_GRADING
            while skipping and kept and kept[-1].strip()[:1] in ("", "#"):
                kept.pop()   # the blank lines and comments that introduce the section
        if not skipping:
            kept.append(line)
    return "".join(kept)


def rubric_hash(rubric: Rubric) -> str:
    """What a result and the compiled expectations depend on: the rubric's grading text."""
    return hashlib.sha256(grading_text(rubric.text).encode("utf-8")).hexdigest()


def reference_hash() -> str | None:
    """A hash of the reference package's sources, or None where it is not installed."""
    try:
        import reference
    except ImportError:
        return None
    digest = hashlib.sha256()
    for path in sorted(Path(reference.__file__).parent.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def observe_configs(target: Target) -> dict[str, dict[str, Any]]:
    """The observe-task configs of a target: constructor args and concrete input shapes."""
    return {name: {"args": target.args(name), "kwargs": {}, "inputs": target.input_shapes(name)}
            for name in target.configs}


def measure_reference(target: Target) -> dict[str, Any]:
    """The trusted reference class of `target`, measured at every config of the rubric."""
    import reference.models as models
    from grader.graph.measure import measure_class

    cls = getattr(models, target.reference, None)
    if cls is None:
        raise CompileError(f"target {target.name}: reference.models has no class "
                           f"{target.reference!r}")
    measured = measure_class(cls, observe_configs(target), OBSERVE_SEED, target=target.name)
    bad = {n: c.get("problem") for n, c in measured.get("configs", {}).items()
           if c.get("status") != "ok"}
    if not measured.get("found") or bad:
        raise CompileError(f"the reference {target.reference} failed at {bad or 'construction'}")
    return measured


def compile_rubric(rubric: Rubric, *, calibrations: bool = True) -> dict[str, Any]:
    """Expectations for every check of `rubric`, keyed by `check_uid`."""
    registry = load_builtin()
    references: dict[str, dict[str, Any]] = {}
    expectations: dict[str, Any] = {}
    for question, spec in rubric.checks():
        kind = registry[spec.kind]
        if kind.expect_fn is None:
            expectations[check_uid(question, spec)] = {}
            continue
        target = rubric.targets.get(spec.target) if spec.target else None
        reference: dict[str, Any] = {}
        if target is not None and target.kind == "class" and kind.stage == "static":
            if target.name not in references:
                references[target.name] = measure_reference(target)
            reference = references[target.name]
        expectations[check_uid(question, spec)] = kind.expect_fn(
            reference, spec.params, Compiling(rubric, question, spec, calibrations))
    return {"schema": SCHEMA, "rubric": rubric.id, "rubric_sha256": rubric_hash(rubric),
            "reference_sha256": reference_hash(), "grader": grader.__version__,
            "targets": {name: {"reference": t.reference} for name, t in rubric.targets.items()},
            "expectations": expectations}


def compiled_path(rubric: Rubric, folder: Path | None = None) -> Path:
    return Path(folder or COMPILED_DIR) / f"{rubric.id}.json"


def write_compiled(rubric: Rubric, path: Path | None = None) -> Path:
    """Compile and write the JSON (sorted keys, so a rebuild with no change is byte-identical)."""
    from grader.files import atomic_write_text

    path = Path(path or compiled_path(rubric))
    data = compile_rubric(rubric)
    atomic_write_text(path, json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n")
    return path


def is_current(data: dict[str, Any], rubric: Rubric) -> tuple[bool, str]:
    """Whether compiled data belongs to this rubric text and (when installed) this reference."""
    if data.get("schema") != SCHEMA:
        return False, f"compiled schema {data.get('schema')!r}, expected {SCHEMA}"
    if data.get("rubric_sha256") != rubric_hash(rubric):
        return False, "the rubric changed since it was compiled"
    ref = reference_hash()
    if ref is not None and data.get("reference_sha256") != ref:
        return False, "the reference changed since the rubric was compiled"
    return True, "current"


def load_compiled(rubric: Rubric, path: Path | None = None, *,
                  allow_compile: bool = True) -> dict[str, Any]:
    """The rubric's compiled expectations: the shipped file when current, else compiled now.

    Without the reference installed (a student's machine) a missing or stale file is an error
    that says which command rebuilds it.
    """
    path = Path(path or compiled_path(rubric))
    reason = "no compiled file"
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            data, reason = None, f"{path} is not valid JSON ({exc})"
        if data is not None:
            ok, reason = is_current(data, rubric)
            if ok:
                return data
    if allow_compile and reference_hash() is not None:
        return compile_rubric(rubric, calibrations=False)
    raise CompileError(f"{path}: {reason}; "
                       f"run `grader compile --rubric {rubric.path or rubric.id}`")

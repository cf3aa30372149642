"""Build the Gradescope autograder zip: `setup.sh`, `run_autograder` and what they need.

The zip holds the project's source that grading needs (grader/, the rubric and its compiled
expectations, pyproject.toml and the README it names), a `gradescope.json` with the choices made
here, and the two scripts Gradescope's contract asks for. Never tests, benchmarks or anyone's
submissions. The reference solution (reference/) is left out unless the training checks need it
(`--checks all`: the data packs and any reference calibration are built from it): in Gradescope's
container the sandbox may be unavailable, and then a submission could read any file in the image.
Without it the written questions (judged against the reference models) are not assessed in
Gradescope: a static bundle's total leaves them out, and the course's batch grades them.
Entries carry a fixed timestamp, so the same inputs give the same bytes.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import grader
from grader.deploy.config import (
    CONFIG_NAME,
    TORCH,
    TORCH_INDEX,
    TORCHVISION,
    VENV,
    BundleConfig,
    BundleError,
)
from grader.deploy.runner import failure_document
from grader.plan import Options, Plan
from grader.rubric.schema import Rubric, load_rubric

PROJECT = Path(grader.__file__).resolve().parents[1]
TEMPLATES = Path(__file__).with_name("templates")
SCRIPTS = {"setup.sh": "setup.sh.j2", "run_autograder": "run_autograder.j2"}
PROJECT_FILES = ("pyproject.toml", "README.md")   # setuptools reads the README pyproject names
SKIPPED_PARTS = {"__pycache__", ".pytest_cache", ".ruff_cache"}
SKIPPED_SUFFIXES = {".pyc", ".pyo"}
ZIP_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Bundle:
    """A written bundle: where, with what configuration, and its entries."""

    path: Path
    config: BundleConfig
    entries: tuple[str, ...]
    task_memory: int          # bytes a sandbox task may use, from --memory or the rubric

    @property
    def size(self) -> int:
        return self.path.stat().st_size


def assessed_points(plan: Plan, with_reference: bool) -> float:
    """The points the checks that run in this mode can give (a question's points are shared
    among its checks by weight). Written answers are judged against the reference models, so
    a bundle without them cannot assess the written questions."""
    total = 0.0
    for question in plan.rubric.questions:
        weights = sum(spec.weight for spec in question.checks)
        running = sum(spec.weight for spec in question.checks
                      if plan.selected(question, spec) is None
                      and (with_reference or spec.stage != "writeup"))
        total += question.points * running / weights
    return round(total, 6)


def _tree(folder: Path, prefix: str) -> dict[str, Path]:
    """The files under `folder` as zip names, without caches and byte code."""
    files = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if (path.is_file() and not SKIPPED_PARTS & set(rel.parts)
                and path.suffix not in SKIPPED_SUFFIXES):
            files[str(PurePosixPath(prefix, *rel.parts))] = path
    return files


def _rubric_files(rubric: Rubric, compiled: Path) -> tuple[dict[str, Path], str, str]:
    """The rubric, its compiled JSON and its extensions file, as zip names; and the two names
    the run reads. The extensions file keeps its place beside the rubric, since the rubric
    names it relative to its own folder."""
    assert rubric.path is not None
    rubric_name = f"rubrics/{rubric.path.name}"
    compiled_name = f"rubrics/compiled/{rubric.id}.json"
    files = {rubric_name: rubric.path, compiled_name: compiled}
    extensions = rubric.late.extensions_file if rubric.late is not None else None
    if extensions is not None:
        try:
            rel = Path(extensions).resolve().relative_to(rubric.path.resolve().parent)
        except ValueError:
            raise BundleError(f"the late policy's extensions file {extensions} is not inside the "
                              f"rubric's folder {rubric.path.parent}; move it there and name it "
                              "relative to the rubric") from None
        files[str(PurePosixPath("rubrics", *rel.parts))] = Path(extensions)
    return files, rubric_name, compiled_name


def _render(template: str, values: dict[str, object]) -> str:
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=False,
                             keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    return env.get_template(template).render(**values)


def _checked_compiled(rubric: Rubric) -> Path:
    """The shipped compiled expectations, refused when stale: the image cannot compile them
    (a static bundle has no reference, and compiling calibrations trains models)."""
    from grader.rubric.compile import compiled_path, is_current

    path = compiled_path(rubric)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BundleError(f"{path}: {exc}; run `grader compile --rubric {rubric.path}`") from None
    ok, reason = is_current(data, rubric)
    if not ok:
        raise BundleError(f"{path}: {reason}; run `grader compile --rubric {rubric.path}`")
    return path


def build_bundle(rubric_name: str | Path, out: Path, *, checks: str = "static",
                 timeout: float | None = None, memory: str | None = None,
                 isolation: str = "auto") -> Bundle:
    """Write the autograder zip for a rubric (a shipped id or a YAML path) to `out`."""
    rubric = load_rubric(rubric_name)
    options = Options(checks=checks, timeout=timeout, memory=memory, isolation=isolation)
    compiled = _checked_compiled(rubric)
    # A bad --memory fails here (the plan parses the limits), not in the image.
    plan = Plan(rubric, options, json.loads(compiled.read_text(encoding="utf-8")))
    rubric_files, rubric_entry, compiled_entry = _rubric_files(rubric, compiled)
    config = BundleConfig(rubric_id=rubric.id, rubric=rubric_entry, compiled=compiled_entry,
                          max_score=rubric.max_score,
                          assessed_max_score=assessed_points(plan, checks == "all"),
                          checks=checks, timeout=timeout, memory=memory, isolation=isolation,
                          grader=grader.__version__)
    files = _tree(PROJECT / "grader", "grader")
    if checks == "all":
        files.update(_tree(PROJECT / "reference", "reference"))
    files.update({name: PROJECT / name for name in PROJECT_FILES})
    files.update(rubric_files)
    fallback = failure_document("@WHY@", config.assessed_max_score, rubric.id)
    values = {"rubric_id": rubric.id, "checks": checks, "grader": grader.__version__,
              "venv": VENV, "torch": TORCH, "torchvision": TORCHVISION,
              "torch_index": TORCH_INDEX, "fallback": json.dumps(fallback)}
    texts = {name: _render(template, values) for name, template in SCRIPTS.items()}
    texts[CONFIG_NAME] = config.to_json()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in texts.items():
            _add(archive, name, text.encode("utf-8"), executable=name in SCRIPTS)
        for name, path in sorted(files.items()):
            _add(archive, name, path.read_bytes(), executable=False)
    partial.replace(out)
    return Bundle(out, config, tuple([*texts, *sorted(files)]), plan.limits.memory)


def _add(archive: zipfile.ZipFile, name: str, data: bytes, *, executable: bool) -> None:
    info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = (0o100755 if executable else 0o100644) << 16
    archive.writestr(info, data)

"""The rubric model: targets, questions, weighted checks; validated with precise locations.

A rubric YAML file looks like this (see rubrics/*.yaml and docs/rubrics.md for every key):

    id: csc413-2023-a2
    title: ...
    targets:
      PoolUpsampleNet:
        reference: PoolUpsampleNet           # class in reference.models
        signature: [kernel, num_filters, num_colours, num_in_channels]
        configs:
          handout: {kernel: 3, num_filters: 32, num_colours: 24, num_in_channels: 1}
        inputs: [[2, num_in_channels, 32, 32]]
    questions:
      - id: "4.1"
        points: 0.5
        checks:
          - {kind: architecture, target: PoolUpsampleNet, weight: 2}
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.checks.registry import COMMON_PARAMS, Param, load_builtin
from grader.rubric.yamlpos import Located, RubricError, load_located

TOP_KEYS = {
    "id": Param((str,), required=True, doc="stable rubric id, e.g. csc413-2023-a2"),
    "title": Param((str,), required=True, doc="shown in reports"),
    "course": Param((str,), doc="course code"),
    "offering": Param((str,), doc="term and instructors"),
    "description": Param((str,), doc="notes for TAs"),
    "student_pattern": Param((str,), doc="regex with a named group `student` applied to file "
                                         "names to find the student id"),
    "seed": Param((int,), default=0, doc="seed for every random number generator"),
    "limits": Param((dict,), default={}, doc="sandbox limits: timeout (s), memory (e.g. 6G)"),
    "targets": Param((dict,), required=True, doc="classes/functions under test"),
    "questions": Param((list,), required=True, doc="graded questions"),
    "late": Param((dict,), doc="late policy: deadline, penalty per day or hour, cap, grace, "
                               "extensions CSV (see \"Late policy\" below); not part of the "
                               "grading key, so changing it never regrades"),
    "gradescope": Param((dict,), default={}, doc="Gradescope autograder settings: "
                                                 "`hide_total` (default false)"),
}
GRADESCOPE_KEYS = {
    "hide_total": Param((bool,), default=False,
                        doc="let Gradescope hide the student's total while any test is hidden "
                            "(its rule); by default checks with feedback `none` are summed into "
                            "one visible test so the total stays visible"),
}
TARGET_KEYS = {
    "kind": Param((str,), default="class", choices=("class", "function"),
                  doc="an nn.Module class, or a function such as the fine-tuning `train`"),
    "reference": Param((str,), doc="name in the reference package (defaults to the target name)"),
    "aliases": Param((list,), default=[], doc="other names students use for the same target"),
    "signature": Param((list,), default=[], doc="constructor parameters, in positional order"),
    "configs": Param((dict,), default={}, doc="named argument sets"),
    "inputs": Param((list,), default=[], doc="input shape templates; strings name config keys"),
}
QUESTION_KEYS = {
    "id": Param((str, int, float), required=True, doc="the handout's number, e.g. \"4.1\""),
    "title": Param((str,), default="", doc="shown beside the id in reports"),
    "points": Param((int, float), required=True, doc="the handout's points for the question"),
    "checks": Param((list,), required=True, doc="weighted checks that share the points"),
    "description": Param((str,), default="", doc="notes shown to TAs"),
}
LIMIT_KEYS = {"timeout": (int, float), "memory": (str, int), "cpu": (int, float)}


@dataclass
class Target:
    name: str
    kind: str
    reference: str
    aliases: list[str]
    signature: list[str]
    configs: dict[str, dict[str, Any]]
    inputs: list[list[Any]]

    def args(self, config: str) -> list[Any]:
        """Positional constructor arguments for a named config, in signature order."""
        values = self.configs[config]
        return [values[name] for name in self.signature]

    def input_shapes(self, config: str) -> list[list[int]]:
        """Concrete input shapes for a config: template strings are looked up in it."""
        values = self.configs[config]
        return [[values[d] if isinstance(d, str) else d for d in shape] for shape in self.inputs]


@dataclass
class CheckSpec:
    id: str
    kind: str
    target: str | None
    weight: float
    visibility: str
    feedback: str
    title: str
    params: dict[str, Any]
    stage: str


@dataclass
class Question:
    id: str
    title: str
    points: float
    checks: list[CheckSpec]
    description: str = ""


@dataclass(frozen=True)
class GradescopeSettings:
    """How the Gradescope autograder bundle presents this rubric."""

    hide_total: bool = False


@dataclass
class Rubric:
    id: str
    title: str
    targets: dict[str, Target]
    questions: list[Question]
    seed: int = 0
    limits: dict[str, Any] = field(default_factory=dict)
    student_pattern: str | None = None
    course: str = ""
    offering: str = ""
    description: str = ""
    path: Path | None = None
    text: str = ""
    gradescope: GradescopeSettings = field(default_factory=GradescopeSettings)
    late: Any = None     # grader.late.LatePolicy | None

    @property
    def max_score(self) -> float:
        return sum(q.points for q in self.questions)

    def checks(self):
        """Every (question, check) pair in rubric order."""
        for question in self.questions:
            for spec in question.checks:
                yield question, spec


def _type_names(types: tuple[type, ...]) -> str:
    names = {bool: "true/false", int: "an integer", float: "a number", str: "a string",
             list: "a list", dict: "a mapping"}
    return " or ".join(names.get(t, t.__name__) for t in types)


def _check_keys(doc: Located, path: tuple, data: Any, spec: dict[str, Param],
                what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise doc.error(path, f"{what} must be a mapping")
    unknown = [k for k in data if k not in spec]
    if unknown:
        import difflib

        hint = difflib.get_close_matches(unknown[0], list(spec), n=1)
        suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
        raise doc.error((*path, unknown[0]),
                        f"unknown key '{unknown[0]}' in {what}{suggestion}; "
                        f"allowed: {', '.join(sorted(spec))}")
    out: dict[str, Any] = {}
    for key, param in spec.items():
        if key not in data:
            if param.required:
                raise doc.error(path, f"{what} is missing the required key '{key}'")
            out[key] = param.default
            continue
        value = data[key]
        ok = isinstance(value, param.types) and not (
            isinstance(value, bool) and bool not in param.types)
        if not ok:
            raise doc.error((*path, key), f"must be {_type_names(param.types)}, "
                                          f"got {type(value).__name__} {value!r}")
        if param.choices and value not in param.choices:
            raise doc.error((*path, key), f"must be one of {', '.join(map(str, param.choices))}, "
                                          f"got {value!r}")
        out[key] = value
    return out


def _parse_target(doc: Located, name: str, data: Any) -> Target:
    path = ("targets", name)
    values = _check_keys(doc, path, data, TARGET_KEYS, f"target '{name}'")
    configs = values["configs"] or {}
    signature = [str(s) for s in values["signature"]]
    for cname, cvalues in configs.items():
        if not isinstance(cvalues, dict):
            raise doc.error((*path, "configs", cname), "a config must be a mapping of arguments")
        missing = [s for s in signature if s not in cvalues]
        if missing:
            raise doc.error((*path, "configs", cname),
                            f"config '{cname}' lacks {', '.join(missing)} from the signature")
    inputs = values["inputs"]
    for i, shape in enumerate(inputs):
        if not isinstance(shape, list) or not shape:
            raise doc.error((*path, "inputs", i), "an input shape must be a non-empty list")
        for j, dim in enumerate(shape):
            if isinstance(dim, str):
                bad = [c for c, v in configs.items() if dim not in v]
                if bad:
                    raise doc.error((*path, "inputs", i, j),
                                    f"'{dim}' is not an argument of config '{bad[0]}'")
            elif not isinstance(dim, int) or isinstance(dim, bool) or dim <= 0:
                raise doc.error((*path, "inputs", i, j), "dimensions are positive integers or "
                                                         "names of config arguments")
    return Target(name=name, kind=values["kind"], reference=values["reference"] or name,
                  aliases=[str(a) for a in values["aliases"]], signature=signature,
                  configs=configs, inputs=inputs)


def _parse_check(doc: Located, path: tuple, data: Any, targets: dict[str, Target],
                 seen: set[str]) -> CheckSpec:
    registry = load_builtin()
    if not isinstance(data, dict):
        raise doc.error(path, "a check must be a mapping with at least a 'kind'")
    kind_name = data.get("kind")
    if kind_name is None:
        raise doc.error(path, "a check needs a 'kind'")
    if kind_name not in registry:
        import difflib

        hint = difflib.get_close_matches(str(kind_name), list(registry), n=1)
        suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
        raise doc.error((*path, "kind"), f"unknown check kind '{kind_name}'{suggestion}; "
                                         f"known: {', '.join(sorted(registry))}")
    kind = registry[kind_name]
    values = _check_keys(doc, path, data, {**COMMON_PARAMS, **kind.params},
                         f"a '{kind_name}' check")
    target = values["target"]
    if target is not None and target not in targets:
        raise doc.error((*path, "target"), f"unknown target '{target}'; "
                                           f"declared: {', '.join(targets)}")
    if target is not None:
        for key in ("configs", "config"):
            names = values.get(key)
            names = [names] if isinstance(names, str) else (names or [])
            for cname in names:
                if cname not in targets[target].configs:
                    raise doc.error((*path, key), f"target '{target}' has no config '{cname}'; "
                                                  f"declared: {', '.join(targets[target].configs)}")
    check_id = values["id"] or kind_name
    if check_id in seen:
        raise doc.error(path, f"check id '{check_id}' is used twice in this question; "
                              f"give one of them an explicit 'id'")
    seen.add(check_id)
    params = {k: v for k, v in values.items() if k not in COMMON_PARAMS}
    if values["weight"] < 0:
        raise doc.error((*path, "weight"), "weights cannot be negative")
    return CheckSpec(id=check_id, kind=kind_name, target=target, weight=float(values["weight"]),
                     visibility=values["visibility"], feedback=values["feedback"],
                     title=values["title"] or "", params=params, stage=kind.stage)


def _parse_late(doc: Located, data: Any) -> Any:
    """The `late` mapping as a `grader.late.LatePolicy` (extensions relative to the rubric)."""
    from grader.late import LateError, LatePolicy

    if not isinstance(data, dict):
        raise doc.error(("late",), "the late policy must be a mapping")
    try:
        return LatePolicy.from_mapping(data, base=Path(doc.file).parent if doc.file else None)
    except LateError as exc:
        raise doc.error(("late",), str(exc)) from None


def parse_rubric(doc: Located) -> Rubric:
    """Validate parsed YAML and build the Rubric, raising RubricError with a location."""
    top = _check_keys(doc, (), doc.data, TOP_KEYS, "the rubric")
    for key, value in (top["limits"] or {}).items():
        if key not in LIMIT_KEYS:
            raise doc.error(("limits", key), f"unknown limit '{key}'; allowed: "
                                             f"{', '.join(LIMIT_KEYS)}")
        if not isinstance(value, LIMIT_KEYS[key]) or isinstance(value, bool):
            raise doc.error(("limits", key), f"must be {_type_names(LIMIT_KEYS[key])}")
    if top["student_pattern"]:
        try:
            pattern = re.compile(top["student_pattern"])
        except re.error as exc:
            raise doc.error(("student_pattern",), f"invalid regular expression: {exc}") from None
        if "student" not in pattern.groupindex:
            raise doc.error(("student_pattern",), "needs a named group (?P<student>...)")
    if not top["targets"]:
        raise doc.error(("targets",), "declare at least one target")
    targets = {str(n): _parse_target(doc, str(n), d) for n, d in top["targets"].items()}
    questions: list[Question] = []
    ids: set[str] = set()
    for qi, qdata in enumerate(top["questions"]):
        qpath = ("questions", qi)
        q = _check_keys(doc, qpath, qdata, QUESTION_KEYS, "a question")
        qid = str(q["id"])
        if qid in ids:
            raise doc.error((*qpath, "id"), f"question id '{qid}' is used twice")
        ids.add(qid)
        if q["points"] < 0:
            raise doc.error((*qpath, "points"), "points cannot be negative")
        if not q["checks"]:
            raise doc.error((*qpath, "checks"), "a question needs at least one check")
        seen: set[str] = set()
        checks = [_parse_check(doc, (*qpath, "checks", ci), c, targets, seen)
                  for ci, c in enumerate(q["checks"])]
        if sum(c.weight for c in checks) <= 0:
            raise doc.error((*qpath, "checks"), "the check weights of a question sum to zero")
        questions.append(Question(id=qid, title=q["title"], points=float(q["points"]),
                                  checks=checks, description=q["description"]))
    if not questions:
        raise doc.error(("questions",), "declare at least one question")
    settings = _check_keys(doc, ("gradescope",), top["gradescope"] or {}, GRADESCOPE_KEYS,
                           "the gradescope settings")
    return Rubric(id=top["id"], title=top["title"], targets=targets, questions=questions,
                  seed=top["seed"], limits=top["limits"] or {},
                  student_pattern=top["student_pattern"], course=top["course"] or "",
                  offering=top["offering"] or "", description=top["description"] or "",
                  gradescope=GradescopeSettings(**settings),
                  late=_parse_late(doc, top["late"]) if top["late"] is not None else None)


RUBRICS_DIR = Path(__file__).resolve().parents[2] / "rubrics"


def shipped_rubrics() -> list[str]:
    """The ids of the rubrics shipped in `rubrics/` (every one is self-tested)."""
    return sorted(p.stem for p in RUBRICS_DIR.glob("*.yaml")) if RUBRICS_DIR.exists() else []


def resolve_rubric_path(name_or_path: str | Path) -> Path:
    """A path, or the id of a shipped rubric (e.g. csc413-2023-a2)."""
    path = Path(name_or_path)
    if path.exists():
        return path
    shipped = RUBRICS_DIR / f"{name_or_path}.yaml"
    if shipped.exists():
        return shipped
    known = shipped_rubrics()
    raise RubricError(f"no rubric file or shipped rubric named '{name_or_path}'"
                      + (f"; shipped: {', '.join(known)}" if known else ""), str(name_or_path))


def load_rubric(name_or_path: str | Path) -> Rubric:
    """Load and validate a rubric by path or shipped id."""
    path = resolve_rubric_path(name_or_path)
    doc = load_located(path)
    rubric = parse_rubric(doc)
    rubric.path = path
    rubric.text = path.read_text(encoding="utf-8")
    return rubric

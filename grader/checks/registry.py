"""The registry of check kinds.

A check kind is one module of this package: a small pure function `(measured, expected, params)
-> Verdict` registered by name with the `@check` decorator (the way pytest plugins register
hooks), and with it everything else about the kind: its title and one-sentence explanation for
reports, its rubric parameters, the stage it needs (static / training / finetune), how
`grader compile` derives its expectations from the reference (`.expect`), its detail view (a
jinja template the report includes for it) and the figures that view draws (`.figures`).
Adding a kind means adding one module here and one line to each rubric; the reports, the
dashboard and the compiler find it through the registry.

`measured` is what the trusted side measured for the check's target (never a number the student's
code reported without verification), `expected` is what `grader compile` derived from the
reference for this check, and `params` are the check's rubric parameters, already validated.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# passed | failed (possibly partial credit) | error (the student's code failed) | skipped (not run
# in this mode) | internal (the grader failed) | review (measured, but not judgeable
# automatically: no points until a TA looks, never a pass or a failure)
STATUSES = ("passed", "failed", "error", "skipped", "internal", "review")


@dataclass(frozen=True)
class Verdict:
    """The outcome of one check: a status, the fraction of its points earned, and why."""

    status: str
    fraction: float
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown verdict status {self.status!r}")
        if not 0.0 <= self.fraction <= 1.0:
            raise ValueError(f"fraction {self.fraction} outside [0, 1]")

    @classmethod
    def passed(cls, message: str, **details: Any) -> Verdict:
        return cls("passed", 1.0, message, details)

    @classmethod
    def failed(cls, message: str, fraction: float = 0.0, **details: Any) -> Verdict:
        return cls("failed", max(0.0, min(1.0, fraction)), message, details)

    @classmethod
    def error(cls, message: str, **details: Any) -> Verdict:
        return cls("error", 0.0, message, details)

    @classmethod
    def skipped(cls, message: str, **details: Any) -> Verdict:
        return cls("skipped", 0.0, message, details)

    @classmethod
    def internal(cls, message: str, **details: Any) -> Verdict:
        return cls("internal", 0.0, message, details)

    @classmethod
    def review(cls, message: str, **details: Any) -> Verdict:
        return cls("review", 0.0, message, details)

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "fraction": self.fraction, "message": self.message,
                "details": self.details}


@dataclass(frozen=True)
class Param:
    """One rubric parameter of a check kind: accepted types, default, and what it means."""

    types: tuple[type, ...]
    default: Any = None
    required: bool = False
    doc: str = ""
    choices: tuple[Any, ...] | None = None


@dataclass(frozen=True)
class Compiling:
    """What `grader compile` knows while it derives a check's expectations."""

    rubric: Any            # grader.rubric.schema.Rubric
    question: Any          # grader.rubric.schema.Question
    spec: Any              # grader.rubric.schema.CheckSpec
    calibrations: bool     # whether training checks may train the reference now


CheckFn = Callable[[dict, dict, dict], Verdict]
ExpectFn = Callable[..., dict]   # (reference, params, compiling: Compiling | None)
FiguresFn = Callable[[dict, Path], dict]


@dataclass
class CheckKind:
    """A registered kind: its verdict function, what reports say of it, the stage it needs,
    its parameters, its expectations, and its detail view."""

    name: str
    func: CheckFn
    stage: str
    params: dict[str, Param]
    doc: str
    title: str = ""
    explains: str = ""
    details: str = ""                # what its verdicts' `details` hold (docs/results.md)
    view: str | None = None          # jinja template text of the kind's detail view
    expect_fn: ExpectFn | None = None
    figures_fn: FiguresFn | None = None

    def __call__(self, measured: dict, expected: dict, params: dict) -> Verdict:
        return self.func(measured, expected, params)

    def expect(self, fn: ExpectFn) -> ExpectFn:
        """Register how `grader compile` derives this kind's expectations from the reference."""
        self.expect_fn = fn
        return fn

    def figures(self, fn: FiguresFn) -> FiguresFn:
        """Register the figures (inline SVG, embedded pictures) the detail view draws, from a
        check's details and the folder holding its artifacts."""
        self.figures_fn = fn
        return fn

    @property
    def view_name(self) -> str | None:
        """The template name the reports include for this kind (None: a generic view)."""
        return f"check/{self.name}.html.j2" if self.view else None


# Stages say what a check needs from the pipeline: "static" ones need only observations of the
# model; "training" ones train it; "finetune" ones run the student's fine-tuning code or notebook;
# "writeup" ones read the student's write-up (grader.stages.writeups).
STAGES = ("static", "training", "finetune", "writeup")

REGISTRY: dict[str, CheckKind] = {}

COMMON_PARAMS: dict[str, Param] = {
    "id": Param((str,), doc="unique id within the question (defaults to the kind)"),
    "kind": Param((str,), required=True, doc="the registered check kind"),
    "target": Param((str,), doc="the class or function under test"),
    "title": Param((str,), doc="a short human title shown in reports"),
    "weight": Param((int, float), default=1, doc="relative weight within the question"),
    "visibility": Param((str,), default="public", choices=("public", "hidden"),
                        doc="hidden checks are not run by the student's self-check"),
    "feedback": Param((str,), default="full", choices=("full", "verdict", "none"),
                      doc="what a student sees of a hidden check: everything, only pass/fail, "
                          "or nothing"),
}


def check(name: str, *, stage: str = "static", params: dict[str, Param] | None = None,
          title: str = "", explains: str = "", details: str = "", view: str | None = None
          ) -> Callable[[CheckFn], CheckKind]:
    """Register a check kind under `name` (see the module docstring for the other fields)."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}")

    def register(fn: CheckFn) -> CheckKind:
        if name in REGISTRY:
            raise ValueError(f"check kind {name!r} registered twice")
        clash = set(params or {}) & set(COMMON_PARAMS)
        if clash:
            raise ValueError(f"{name}: parameters {sorted(clash)} are common to every check")
        kind = CheckKind(name, fn, stage, dict(params or {}), (fn.__doc__ or "").strip(),
                         title=title or name.replace("_", " ").capitalize(),
                         explains=explains, details=details, view=view)
        REGISTRY[name] = kind
        return kind

    return register


_loaded = False


def load_builtin() -> dict[str, CheckKind]:
    """Import every module of this package so their `@check` registrations run."""
    global _loaded
    if not _loaded:
        import grader.checks as package

        for info in pkgutil.iter_modules(package.__path__):
            if info.name not in {"registry"}:
                importlib.import_module(f"grader.checks.{info.name}")
        _loaded = True
    return REGISTRY


def get(name: str) -> CheckKind:
    load_builtin()
    return REGISTRY[name]


def find(name: str) -> CheckKind | None:
    """The kind registered as `name`, or None (a result written by another grader version)."""
    load_builtin()
    return REGISTRY.get(name)


def view_source(template: str) -> str | None:
    """The text of `check/<kind>.html.j2`, for the report's template loader."""
    prefix, _, rest = template.partition("/")
    if prefix != "check" or not rest.endswith(".html.j2"):
        return None
    kind = find(rest.removesuffix(".html.j2"))
    return kind.view if kind is not None else None

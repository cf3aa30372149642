"""What a grading run will do, and the key its results are stored under.

A `Plan` is a rubric, the expectations compiled from the reference and the options: which
checks run in this mode (and why the others do not), which targets and stages they need, and
the key that identifies a result. It holds no sandbox and no student's state, so the batch
planner (which only computes keys) and every worker's grader share it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grader
from grader.checks.accuracy import BUDGETS
from grader.result import RubricInfo
from grader.rubric.compile import load_compiled, rubric_hash
from grader.rubric.schema import CheckSpec, Question, Rubric, load_rubric
from grader.sandbox.limits import Limits

MODES = ("static", "all")


@dataclass
class Options:
    """How to grade: which stages run, with which data and limits. Part of the result key."""

    checks: str = "static"            # "static": no training; "all": train the models too
    data: str | None = None           # CIFAR-10 (pickle batches or image folders); None: synthetic
    colours: str | None = None        # the course palette file
    timeout: float | None = None      # per sandbox task, overrides the rubric's
    memory: str | None = None
    device: str = "auto"
    public_only: bool = False         # the student's self-check: hidden checks do not run
    cache_dir: str | None = None      # data packs and reference calibrations
    isolation: str = "auto"           # sandbox mechanism: auto | bwrap | none
    threads: int | None = None        # torch threads inside the sandbox
    gpu_jobs: int = 1                 # training tasks sharing one GPU (each gets its share)
    budget: str = "rubric"            # training checks' budget: the rubric's, or the handout's

    def __post_init__(self) -> None:
        if self.checks not in MODES:
            raise ValueError(f"--checks must be one of {', '.join(MODES)}, not {self.checks!r}")
        if self.budget not in BUDGETS:
            raise ValueError(f"--budget must be one of {', '.join(BUDGETS)}, "
                             f"not {self.budget!r}")

    def key_part(self) -> dict[str, Any]:
        """What changes a grade (the cache and device do not)."""
        return {"checks": self.checks, "data": self.data, "colours": self.colours,
                "timeout": self.timeout, "memory": self.memory,
                "public_only": self.public_only, "budget": self.budget}


def grading_key(payload_sha: str, rubric: Rubric, compiled: dict[str, Any],
                options: Options) -> str:
    """Results are reused only when submission, rubric, reference, grader and options match."""
    text = json.dumps({"submission": payload_sha, "rubric": rubric_hash(rubric),
                       "reference": compiled.get("reference_sha256"),
                       "grader": grader.__version__, "options": options.key_part()},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


class Plan:
    """A rubric, its compiled expectations and the options: what runs, and the result key."""

    def __init__(self, rubric: Rubric | str | Path, options: Options | None = None,
                 compiled: dict[str, Any] | None = None) -> None:
        self.rubric = rubric if isinstance(rubric, Rubric) else load_rubric(rubric)
        self.options = options or Options()
        self.compiled = compiled if compiled is not None else load_compiled(self.rubric)
        base = Limits.from_mapping(self.rubric.limits)
        self.limits = base.with_overrides(timeout=self.options.timeout,
                                          memory=self.options.memory)

    def selected(self, question: Question, spec: CheckSpec) -> str | None:
        """None when the check runs, else why it is skipped."""
        if self.options.public_only and spec.visibility == "hidden":
            return "hidden check: graded by the course staff, not in the self-check"
        if spec.stage == "training" and self.options.checks != "all":
            return "training checks run with --checks all"
        return None

    def running(self, stage: str | None = None) -> Iterator[tuple[Question, CheckSpec]]:
        """The checks that run in this mode (of one stage, when given), in rubric order."""
        for question, spec in self.rubric.checks():
            if (stage is None or spec.stage == stage) and self.selected(question, spec) is None:
                yield question, spec

    def class_targets(self, stages: tuple[str, ...]) -> list[str]:
        """The classes some running check of these stages needs, in rubric order."""
        names: list[str] = []
        for _, spec in self.running():
            target = self.rubric.targets.get(spec.target or "")
            if (target is not None and target.kind == "class" and spec.stage in stages
                    and target.name not in names):
                names.append(target.name)
        return names

    def key(self, payload_sha: str) -> str:
        return grading_key(payload_sha, self.rubric, self.compiled, self.options)

    def rubric_info(self) -> RubricInfo:
        return RubricInfo(id=self.rubric.id, title=self.rubric.title,
                          sha256=rubric_hash(self.rubric),
                          path=str(self.rubric.path) if self.rubric.path else None,
                          max_score=self.rubric.max_score)

"""What grading one submission accumulates, stage after stage, before it becomes a `Result`.

One `SubmissionRun` per submission: the stages (observation, training, fine-tuning) write their
measurements, problems, artifacts and costs here, and the checks read them. Nothing about one
student lives on the long-lived `Grader`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from grader.ingest.problems import Problem
from grader.sandbox.outcome import Outcome

OUTCOME_PROBLEM = {"timeout": ("timeout", "did not finish within the time limit"),
                   "memory": ("memory", "ran out of memory"),
                   "crashed": ("crashed", "crashed the Python process"),
                   "output_limit": ("limit", "printed more output than allowed")}


def outcome_problem(outcome: Outcome, doing: str) -> dict[str, Any]:
    """A Problem for a sandbox task that did not return normally."""
    if outcome.status in OUTCOME_PROBLEM:
        kind, words = OUTCOME_PROBLEM[outcome.status]
        return Problem(kind, f"{doing}: the code {words}").to_dict()
    last = ((outcome.error or "").strip().splitlines() or ["no details"])[-1]
    return Problem("internal", f"{doing}: the grader's task failed ({last})").to_dict()


@dataclass
class SubmissionRun:
    """The measurements, problems, artifacts and costs of one submission's grading."""

    measured: dict[str, dict[str, Any]] = field(default_factory=dict)    # target -> measured
    per_check: dict[str, dict[str, Any]] = field(default_factory=dict)   # uid -> measured
    expected: dict[str, dict[str, Any]] = field(default_factory=dict)    # uid -> extra expected
    extra_details: dict[str, dict[str, Any]] = field(default_factory=dict)
    artifacts: dict[str, bytes] = field(default_factory=dict)
    problems: list[dict[str, Any]] = field(default_factory=list)
    resources: dict[str, float] = field(default_factory=lambda: {
        "wall_s": 0.0, "cpu_s": 0.0, "max_rss_bytes": 0})
    timings: dict[str, float] = field(default_factory=lambda: {
        "ingest_s": 0.0, "sandbox_s": 0.0, "training_s": 0.0, "finetune_s": 0.0,
        "checks_s": 0.0})
    device: str = "cpu"
    isolation: dict[str, Any] = field(default_factory=dict)   # what the sandbox had in force

    def add_resources(self, outcome: Outcome) -> None:
        res = outcome.resources or {}
        self.resources["wall_s"] += float(res.get("wall_s") or 0.0)
        self.resources["cpu_s"] += float(res.get("cpu_s") or 0.0)
        self.resources["max_rss_bytes"] = max(self.resources["max_rss_bytes"],
                                              int(res.get("max_rss_bytes") or 0))
        if outcome.isolation:
            self.isolation = outcome.isolation

    def problem(self, problem: dict[str, Any] | None) -> None:
        if problem and problem not in self.problems:
            self.problems.append(problem)

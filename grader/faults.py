"""Fault injection points: make a chosen stage fail for a chosen student, on purpose.

The promise "one student's failure is that student's row, never a crashed batch" is only worth
something if every stage is tried. Each stage calls `point(stage, student)`; when the
environment variable `GRADER_FAULTS` names that stage and student, it raises `InjectedFault`,
exactly as a grader bug there would. Worker processes inherit the variable, so a test can reach
stages that run far from it (ingest and observation in a batch worker).

    GRADER_FAULTS="report=bob,export=carol,ingest=*"

Unset (always, outside tests), `point` costs one dictionary lookup.
"""

from __future__ import annotations

import fnmatch
import os

ENV = "GRADER_FAULTS"
STAGES = ("ingest", "observe", "checks", "report", "export")


class InjectedFault(RuntimeError):
    """A failure raised on purpose by `GRADER_FAULTS`."""


def _wanted() -> list[tuple[str, str]]:
    spec = os.environ.get(ENV, "")
    pairs = []
    for item in spec.split(","):
        stage, sep, who = item.strip().partition("=")
        if sep and stage in STAGES:
            pairs.append((stage, who.strip() or "*"))
    return pairs


def point(stage: str, student: str) -> None:
    """Raise `InjectedFault` when `GRADER_FAULTS` asks for `stage` to fail for `student`."""
    if ENV not in os.environ:
        return
    for wanted_stage, pattern in _wanted():
        if wanted_stage == stage and fnmatch.fnmatchcase(student, pattern):
            raise InjectedFault(f"injected failure in the {stage} stage for {student}")

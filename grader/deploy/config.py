"""What a Gradescope bundle was built with: the one file the build writes and the run reads.

The build decides everything that must not change between one student's run and the next (the
rubric, the checks mode, the sandbox limits, the torch pair in the image); the run only reads
it, so every submission of an assignment is graded the same way.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from grader.plan import Options

CONFIG_NAME = "gradescope.json"
# Gradescope's fixed layout: the zip is unpacked into /autograder/source, submissions arrive in
# /autograder/submission and the results are read from /autograder/results/results.json.
DEFAULT_ROOT = Path("/autograder")
ROOT_ENV = "GRADER_AUTOGRADER_ROOT"
PYTHON_ENV = "GRADER_PYTHON"
VENV = "/autograder/venv"
# CPU wheels keep the image small (no CUDA libraries). The two are pinned as a pair: torchvision
# is built against one torch release and fails to import with another.
TORCH = "2.14.1"
TORCHVISION = "0.29.1"
TORCH_INDEX = "https://download.pytorch.org/whl/cpu"
SCHEMA = 1


class BundleError(ValueError):
    """A bundle that cannot be built (stale compiled rubric, a file outside the rubric's
    folder) or read (a missing or malformed gradescope.json), with what to do."""


@dataclass(frozen=True)
class BundleConfig:
    """The contents of `gradescope.json` at the bundle's root."""

    rubric_id: str
    rubric: str                      # the rubric YAML, relative to the bundle's root
    compiled: str                    # its compiled expectations, relative to the bundle's root
    max_score: float                 # the rubric's points
    assessed_max_score: float        # the points the checks of this mode can give
    checks: str = "static"
    timeout: float | None = None     # per sandbox task; None: the rubric's
    memory: str | None = None
    isolation: str = "auto"
    grader: str = ""
    torch: str = TORCH
    torchvision: str = TORCHVISION
    schema: int = SCHEMA

    def options(self, root: Path, threads: int | None = None) -> Options:
        """The grading options of every run; data and calibrations live in `<root>/cache`, which
        setup.sh fills once so that no run needs the network. `threads`: torch threads in the
        sandbox (the container's CPU quota, not the host's cores)."""
        return Options(checks=self.checks, timeout=self.timeout, memory=self.memory,
                       isolation=self.isolation, cache_dir=str(cache_dir(root)),
                       threads=threads)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BundleConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise BundleError(f"{CONFIG_NAME}: unknown key(s) {', '.join(unknown)} (built by a "
                              "newer grader?)")
        try:
            return cls(**data)
        except TypeError as exc:
            raise BundleError(f"{CONFIG_NAME}: {exc}") from None

    @classmethod
    def read(cls, path: Path) -> BundleConfig:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise BundleError(f"cannot read the bundle's {path}: {exc}") from None
        if not isinstance(data, dict):
            raise BundleError(f"{path}: expected a JSON object")
        return cls.from_dict(data)


def cache_dir(root: Path) -> Path:
    return Path(root) / "cache"


def source_dir(root: Path) -> Path:
    """Where Gradescope unpacked the bundle."""
    return Path(root) / "source"

"""What every student is expected to share, subtracted before anything counts as evidence.

Three sources, each optional, per target:
- the starter skeleton, written from the rubric: the class line, the signature the handout
  prescribes, `super().__init__()` and the handout's "useful parameters" lines;
- the reference solution, `submissions/reference/<rubric id>/reference.ipynb`: one correct
  solution, so whatever it shares with a student is what correctness looks like;
- the course's own starter notebook (`--starter`), when given: its code for the targets
  (skeletons, provided helpers such as the 2020 handout's `MyConv2d`) is subtracted too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from grader.ingest import Cell, Submission, load_submission
from grader.rubric.schema import Rubric, Target
from grader.similarity.fragments import Fragment, class_targets, fragments

ROOT = Path(__file__).resolve().parents[2]
REFERENCES = ROOT / "submissions" / "reference"


@dataclass(frozen=True)
class Baseline:
    """The expected code per target, and where it came from (said on the page)."""

    fragments: dict[str, list[Fragment]]
    sources: tuple[str, ...]


# The handouts' "useful parameters" lines: PoolUpsampleNet's starter has the first,
# ConvTransposeNet's and UNet's all three; the 2020 starter none. Every variant is expected.
USEFUL = ((), ("padding = kernel // 2",),
          ("stride = 2", "padding = kernel // 2", "output_padding = 1"))


def skeleton_source(target: Target, useful: tuple[str, ...] = ()) -> str:
    """The starter's empty class for `target`: what every hand-in starts from."""
    parameters = ", ".join(["self", *target.signature])
    lines = "".join(f"        {line}\n" for line in useful if "kernel" in target.signature)
    return ("import torch.nn as nn\n\n\n"
            f"class {target.name}(nn.Module):\n"
            f"    def __init__({parameters}):\n"
            f"        super().__init__()\n{lines}\n"
            "    def forward(self, x):\n        pass\n")


def _skeletons(rubric: Rubric) -> list[Submission]:
    out = []
    for useful in USEFUL:
        cells = [Cell(index=i, kind="code", source=skeleton_source(rubric.targets[t], useful),
                      file="skeleton.py")
                 for i, t in enumerate(class_targets(rubric), start=1)]
        out.append(Submission(student="starter skeleton", path=Path("skeleton.py"),
                              kind="python", cells=cells, files={}, sha256=""))
    return out


def load_baseline(rubric: Rubric, starter: Path | None = None) -> Baseline:
    """The skeleton, the shipped reference (if any) and the course's starter (if given)."""
    found: dict[str, list[Fragment]] = {t: [] for t in class_targets(rubric)}
    sources = ["the starter skeleton (signature and the handout's useful parameters)"]
    parts = [fragments(skeleton, rubric) for skeleton in _skeletons(rubric)]
    reference = REFERENCES / rubric.id / "reference.ipynb"
    if reference.is_file():
        parts.append(fragments(load_submission(reference, student="reference"), rubric))
        sources.append(f"the reference solution ({reference.relative_to(ROOT)})")
    if starter is not None:
        parts.append(fragments(load_submission(starter, student="starter"), rubric))
        sources.append(f"the starter notebook {Path(starter).name}")
    for part in parts:
        for target, fragment in part.items():
            found[target].append(fragment)
    return Baseline(found, tuple(sources))

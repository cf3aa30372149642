"""Warm `--checks static` time per notebook for each offering, against the 2023 notebook.

    python benchmarks/bench_static_rubrics.py [--repeat 5]

The 2020 rubric also observes the fine-tuning part (Part C): the notebook's cells run in the
warm sandbox process with the grading prelude, and `train(args, model)` takes two optimizer
steps on tiny data. A 2020 notebook without a Part C is reported from its source alone. Goal:
a 2020 notebook, with or without Part C, costs at most twice a 2023 notebook.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import nbformat

from grader.pipeline import Grader

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "submissions" / "reference"


def without_part_c(folder: Path) -> Path:
    """The 2020 reference notebook with its Part C cells (from the Part C heading) removed."""
    nb = nbformat.read(REFERENCE / "csc413-2020-pa2" / "reference.ipynb", as_version=4)
    cut = next(i for i, c in enumerate(nb.cells)
               if c.cell_type == "markdown" and "Part C" in c.source)
    nb.cells = nb.cells[:cut]
    path = folder / "no_part_c.ipynb"
    nbformat.write(nb, path)
    return path


def warm_seconds(rubric: str, notebook: Path, repeat: int) -> tuple[float, dict[str, float]]:
    with Grader(rubric) as g:
        g.grade_path(notebook)   # starts the sandbox
        times, timings = [], {}
        for _ in range(repeat):
            t = time.perf_counter()
            timings = g.grade_path(notebook).result.timings
            times.append(time.perf_counter() - t)
    return statistics.median(times), timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        cases = [("csc413-2023-a2", REFERENCE / "csc413-2023-a2" / "reference.ipynb",
                  "2023 notebook"),
                 ("csc413-2020-pa2", REFERENCE / "csc413-2020-pa2" / "reference.ipynb",
                  "2020 notebook with Part C"),
                 ("csc413-2020-pa2", without_part_c(Path(tmp)), "2020 notebook, no Part C")]
        base = None
        for rubric, notebook, label in cases:
            seconds, timings = warm_seconds(rubric, notebook, args.repeat)
            base = base or seconds
            print(f"{label:28} {seconds:5.2f} s warm (median of {args.repeat}; fine-tuning "
                  f"{timings.get('finetune_s', 0):.2f} s, sandbox {timings.get('sandbox_s', 0):.2f}"
                  f" s) = {seconds / base:.2f}x the 2023 notebook")


if __name__ == "__main__":
    main()

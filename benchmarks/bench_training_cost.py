"""The training checks' cost against the training itself: `--checks all` per notebook.

    python benchmarks/bench_training_cost.py [--rubric csc413-2023-a2] [--repeat 2]

On one CPU core (one torch thread, as one worker per core would run), prints:

- the pure cost of the budgeted trainings: the reference loop training the reference models,
  every training check's budget and data, in this process with no grader around it;
- the grader's `--checks all` time per notebook (the reference notebook, warm sandbox, warm
  data, the reference calibration shipped with the rubric), with its stages;
- their ratio. Goal: at most 1.3.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from grader.checks.accuracy import budget_of
from grader.pipeline import Grader
from grader.plan import Plan
from grader.rubric.schema import load_rubric
from grader.sandbox.tasks.train import train_class
from grader.stages.training import TrainingStage
from grader.training.calibrate import reference_class

ROOT = Path(__file__).resolve().parents[1]


def pure_training_seconds(rubric_id: str, cache: str) -> float:
    """Train each training check's reference model once, under its budget, one thread."""
    rubric = load_rubric(rubric_id)
    stage = TrainingStage(Plan(rubric))
    total = 0.0
    torch.set_num_threads(1)
    for _, spec in rubric.checks():
        if spec.stage != "training":
            continue
        target = rubric.targets[spec.target]
        config = spec.params.get("config") or next(iter(target.configs))
        budget = budget_of(spec.params)
        pack = stage.pack(budget, int(target.configs[config].get("num_colours", 24)))
        arrays = pack.arrays()
        t = time.perf_counter()
        result, _ = train_class(reference_class(target.reference), target.args(config), None,
                                arrays, budget, rubric.seed, "cpu")
        total += time.perf_counter() - t
        assert result["problem"] is None, result["problem"]
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rubric", default="csc413-2023-a2")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    notebook = ROOT / "submissions" / "reference" / args.rubric / "reference.ipynb"
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; one torch "
          f"thread for both")
    with tempfile.TemporaryDirectory() as cache:
        pure = [pure_training_seconds(args.rubric, cache) for _ in range(args.repeat)]
        print(f"pure training cost (the reference loop on the reference models, same budgets "
              f"and data): median {statistics.median(pure):.1f} s over {len(pure)}")
        with Grader(args.rubric, checks="all", cache_dir=cache, threads=1) as g:
            g.grade_path(notebook)   # starts the sandbox, builds the data packs
            times, result = [], None
            for _ in range(args.repeat):
                t = time.perf_counter()
                result = g.grade_path(notebook).result
                times.append(time.perf_counter() - t)
    grader_s = statistics.median(times)
    timings = result.timings
    print(f"grader --checks all, warm: median {grader_s:.1f} s per notebook over {len(times)} "
          f"(training stage {timings['training_s']:.1f} s, static observation "
          f"{timings['sandbox_s']:.1f} s, checks {timings['checks_s']:.1f} s); score "
          f"{result.score}/{result.max_score}")
    print(f"ratio: {grader_s / statistics.median(pure):.2f} (goal <= 1.3)")


if __name__ == "__main__":
    main()

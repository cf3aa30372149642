"""Time to grade one submission, `--checks static` and `--checks all`, on this machine.

    python benchmarks/bench_submission.py [--rubric csc413-2023-a2] [--repeat 5] [--skip-all]

Prints the cold start (rubric, compiled expectations, sandbox), the warm static time per
submission (median of `--repeat`), the one-off reference calibration for the training checks,
and the warm `all` time per submission (the student's models trained under the rubric's budget),
with the per-stage timings the result records. The reference notebook of the rubric is graded,
so every stage runs to completion.

Side by side, it also times the alternative a notebook grader would use: a fresh Jupyter kernel
(nbclient, no sandbox) executing the same extracted definitions plus a cell that does less than
the static observation does (each target built at its first configuration, one forward and
backward pass per input shape, a parameter count), and prints the ratio to the warm static time.
The notebook itself is not executed as-is: at top level it downloads CIFAR-10 and trains.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from grader.ingest import extract, load_submission
from grader.pipeline import Grader
from grader.rubric.schema import load_rubric

ROOT = Path(__file__).resolve().parents[1]


def fresh_kernel_seconds(rubric_id: str, notebook: Path, repeat: int) -> list[float]:
    """Wall time of a fresh kernel doing (less than) the static observation, `repeat` times."""
    import nbclient
    import nbformat

    rubric = load_rubric(rubric_id)
    targets = [t for t in rubric.targets.values() if t.kind == "class"]
    program = extract(load_submission(notebook), [t.name for t in targets])
    lines = ["import torch"]
    for t in targets:
        config = next(iter(t.configs))
        lines.append(f"m = {t.name}(*{t.args(config)!r})")
        for shape in t.input_shapes(config):
            lines.append(f"m(torch.randn(*{shape!r})).sum().backward()")
        lines.append("print(sum(p.numel() for p in m.parameters()))")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(program.source),
                                         nbformat.v4.new_code_cell("\n".join(lines))])
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        nbclient.NotebookClient(nbformat.from_dict(nb), timeout=300,
                                kernel_name="python3").execute()
        times.append(time.perf_counter() - t)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rubric", default="csc413-2023-a2")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-all", action="store_true")
    args = parser.parse_args()
    notebook = ROOT / "submissions" / "reference" / args.rubric / "reference.ipynb"
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")

    t = time.perf_counter()
    with Grader(args.rubric) as g:
        g.grade_path(notebook)
        cold = time.perf_counter() - t
        warm = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            result = g.grade_path(notebook).result
            warm.append(time.perf_counter() - t)
    print(f"static, first submission (sandbox start included): {cold:.1f} s")
    print(f"static, warm: median {statistics.median(warm):.2f} s over {len(warm)} "
          f"(min {min(warm):.2f}, max {max(warm):.2f}); score {result.score}"
          f"/{result.assessed_max_score}")
    kernel = fresh_kernel_seconds(args.rubric, notebook, max(1, args.repeat // 2))
    print(f"fresh Jupyter kernel, same definitions, one forward/backward per shape (no sandbox): "
          f"median {statistics.median(kernel):.2f} s over {len(kernel)}; warm static is "
          f"{statistics.median(kernel) / statistics.median(warm):.1f}x faster (goal >= 20x)")
    if args.skip_all:
        return
    with tempfile.TemporaryDirectory() as cache, Grader(args.rubric, checks="all",
                                                        cache_dir=cache) as g:
        t = time.perf_counter()
        count = g.prepare(threads=os.cpu_count())
        calibration = time.perf_counter() - t
        g.grade_path(notebook)  # warms the sandbox and the data pack
        t = time.perf_counter()
        result = g.grade_path(notebook).result
        full = time.perf_counter() - t
    timings = result.timings
    print(f"all: reference calibration for {count} training checks (3 seeds each, once per "
          f"data and budget, cached): {calibration:.1f} s")
    print(f"all, warm: {full:.1f} s per submission (training {timings['training_s']:.1f} s, "
          f"sandbox {timings['sandbox_s']:.1f} s, checks {timings['checks_s']:.1f} s); score "
          f"{result.score}/{result.assessed_max_score} on {result.environment['device']}")


if __name__ == "__main__":
    main()

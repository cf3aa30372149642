"""What isolation costs: warm-worker start, per-task overhead, and the fresh-process alternatives.

Prints, each as a median of several runs:
  * cold start of one warm worker (bwrap + import numpy/torch/torchvision, ready to fork);
  * a trivial task through the warm pool (fork, rlimits, run, kill-all, wipe, reply);
  * a trivial torch task through the pool (the child sets its threads and runs one op);
  * `run_once` of a trivial task (a whole one-shot sandbox, nothing preloaded);
  * a fresh `python -c 'import torch'` process (no sandbox);
  * a fresh Jupyter kernel: nbclient executing a one-cell notebook that imports torch (no sandbox).

    python benchmarks/bench_sandbox_overhead.py [--tasks 30] [--repeats 3] [--mechanism auto]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

from grader.sandbox import Limits, Sandbox, run_once

TRIVIAL = {"task": "echo", "code": "x = 1", "result_expr": "x"}
TORCH_OP = {"task": "echo", "code": "import torch\nx = float(torch.ones(64, 64).sum())",
            "result_expr": "x"}


def timed(fn: Callable[[], object], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def fresh_import_torch() -> None:
    subprocess.run([sys.executable, "-c", "import torch"], check=True)


def fresh_kernel() -> None:
    import nbclient
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import torch")]
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3").execute()


def report(label: str, times: list[float]) -> None:
    med = statistics.median(times)
    unit, scale = ("ms", 1e3) if med < 1 else ("s", 1)
    print(f"{label:<58} median {med * scale:8.1f} {unit}   "
          f"(min {min(times) * scale:.1f}, max {max(times) * scale:.1f}, n={len(times)})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=30, help="trivial tasks through the pool")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of the slow measurements")
    parser.add_argument("--mechanism", default="auto", choices=["auto", "bwrap", "none"])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    limits = Limits(timeout=120)

    starts: list[float] = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        sandbox = Sandbox(limits, workers=1, threads=args.threads, mechanism=args.mechanism)
        sandbox.start()
        starts.append(time.perf_counter() - start)
        if len(starts) < args.repeats:
            sandbox.close()
    print(f"isolation: {sandbox.isolation['mechanism']}, warnings: "
          f"{sandbox.isolation['warnings'] or 'none'}")
    report("cold start of a warm worker (bwrap + torch preload)", starts)
    with sandbox:
        for request in (TRIVIAL, TORCH_OP):  # warm-up: first fork touches fresh page tables
            assert sandbox.run(request).ok
        trivial = timed(lambda: _ok(sandbox.run(TRIVIAL)), args.tasks)
        torch_op = timed(lambda: _ok(sandbox.run(TORCH_OP)), args.tasks)
        inside = [sandbox.run(TRIVIAL).resources["wall_s"] for _ in range(args.tasks)]
    report("trivial task through the warm pool (round trip)", trivial)
    report("  of which the task process itself (fork to exit)", inside)
    report("trivial torch-op task through the warm pool", torch_op)
    report("run_once: trivial task in a one-shot sandbox, no preload",
           timed(lambda: _ok(run_once(TRIVIAL, limits, mechanism=args.mechanism)), args.repeats))
    report("fresh `python -c 'import torch'` (no sandbox)", timed(fresh_import_torch, args.repeats))
    report("fresh Jupyter kernel, one cell `import torch` (no sandbox)",
           timed(fresh_kernel, args.repeats))


def _ok(outcome: object) -> None:
    if not getattr(outcome, "ok", False):
        raise SystemExit(f"benchmark task failed: {outcome}")


if __name__ == "__main__":
    main()

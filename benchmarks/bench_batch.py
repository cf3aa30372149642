"""How fast a whole class grades, through the real `grader grade` command.

Prints:
  * throughput (notebooks/minute) of `--workers 1` vs `--workers 2` for `--checks static` on a
    generated class of well-formed notebooks (correct and buggy: the engine, not timeouts), and
    the speed-up (goal: >= 1.8x on 2 cores);
  * wall time for a realistic generated class of 300 notebooks (correct, buggy, slow, broken)
    with `--checks static`, with the statuses it ended in;
  * a projected `--checks all` time for that class: a few notebooks are graded with training,
    their extra time per notebook is extrapolated to the class and divided by the workers.

    python benchmarks/bench_batch.py [--n 300] [--throughput-n 40] [--train-n 3] [--workers 2]
                                     [--out out/bench-batch] [--skip-class] [--skip-all]

Each run is a fresh output folder (nothing is reused from an earlier run). The machine's load
average is printed with each figure, since a shared machine makes every timing an upper bound.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from make_class import make_class  # noqa: E402

RUBRIC = "rubrics/csc413-2023-a2.yaml"


def grade(paths: list[Path], out: Path, workers: int, checks: str, extra: list[str]) -> float:
    """Run `grader grade` to completion in a fresh folder; its wall time in seconds."""
    if out.exists():
        shutil.rmtree(out)
    argv = [sys.executable, "-m", "grader", "grade", *map(str, paths), "--rubric", RUBRIC,
            "--out", str(out), "--checks", checks, "--workers", str(workers), *extra]
    log = out.with_suffix(".log")
    start = time.perf_counter()
    with log.open("w") as handle:
        proc = subprocess.run(argv, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    if proc.returncode not in (0, 3):   # 3: completed, some rows await a TA (e.g. a write-up)
        tail = log.read_text(errors="replace")[-3000:]
        raise SystemExit(f"grader grade failed (exit {proc.returncode}): {' '.join(argv)}\n"
                         f"{tail}")
    return wall


def results(out: Path) -> list[dict]:
    rows = []
    for path in sorted(out.glob("*/result.json")):
        try:
            rows.append(json.loads(path.read_text()))
        except ValueError:
            pass
    return rows


def statuses(rows: list[dict]) -> dict[str, int]:
    def word(r: dict) -> str:
        if r.get("status") == "error":
            return "internal" if (r.get("error") or {}).get("kind") == "internal" else \
                f"error:{(r.get('error') or {}).get('kind')}"
        return "graded"
    return dict(sorted(Counter(word(r) for r in rows).items()))


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.1f}/{five:.1f} on {os.cpu_count()} CPUs"


def steady_rate(out: Path) -> float:
    """Notebooks per minute between the first and the last result written: the throughput
    once the workers are warm, without the one-off sandbox start of each worker."""
    stamps = sorted(p.stat().st_mtime for p in out.glob("*/result.json"))
    if len(stamps) < 3 or stamps[-1] <= stamps[0]:
        return float("nan")
    return (len(stamps) - 1) / (stamps[-1] - stamps[0]) * 60


def per_notebook(rows: list[dict]) -> float:
    times = [(r.get("timings") or {}).get("total_s") for r in rows]
    times = [t for t in times if isinstance(t, (int, float))]
    return sum(times) / len(times) if times else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="size of the realistic class")
    parser.add_argument("--throughput-n", type=int, default=40)
    parser.add_argument("--train-n", type=int, default=3, help="notebooks graded with training")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "bench-batch")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-class", action="store_true")
    parser.add_argument("--skip-all", action="store_true")
    parser.add_argument("--grade-arg", action="append", default=[],
                        help="extra argument for `grader grade` (repeatable), e.g. --timeout=30")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    figures: dict[str, object] = {}

    if not args.skip_throughput:
        well_formed = out / "class-throughput"
        shutil.rmtree(well_formed, ignore_errors=True)
        make_class(well_formed, args.throughput_n, args.seed,
                   mix={"correct": 0.6, "buggy": 0.4, "slow": 0, "broken": 0})
        walls, steady = {}, {}
        for workers in (1, 2):
            folder = out / f"throughput-w{workers}"
            walls[workers] = grade([well_formed], folder, workers, "static", args.grade_arg)
            steady[workers] = steady_rate(folder)
            rate = args.throughput_n / walls[workers] * 60
            print(f"--checks static, --workers {workers}: {args.throughput_n} notebooks in "
                  f"{walls[workers]:.1f} s = {rate:.1f} notebooks/min end to end, "
                  f"{steady[workers]:.1f}/min once warm  ({load()})", flush=True)
        speedup = walls[1] / walls[2]
        warm = steady[2] / steady[1]
        print(f"speed-up of 2 workers over 1: {speedup:.2f}x end to end, {warm:.2f}x once warm "
              f"(goal >= 1.8x)", flush=True)
        figures["throughput"] = {"n": args.throughput_n, "wall_s": walls, "speedup": speedup,
                                 "steady_per_min": steady, "steady_speedup": warm}

    if not args.skip_class:
        realistic = out / f"class{args.n}"
        shutil.rmtree(realistic, ignore_errors=True)
        manifest = make_class(realistic, args.n, args.seed)
        kinds = dict(sorted(Counter(e["kind"] for e in manifest).items()))
        wall = grade([realistic], out / f"static-{args.n}", args.workers, "static",
                     args.grade_arg)
        rows = results(out / f"static-{args.n}")
        print(f"--checks static, --workers {args.workers}, {args.n} notebooks {kinds}: "
              f"{wall:.1f} s ({wall / 60:.1f} min)  ({load()})", flush=True)
        print(f"  results: {statuses(rows)}; mean per-notebook grading time "
              f"{per_notebook(rows):.2f} s", flush=True)
        slowest = sorted(rows, key=lambda r: -((r.get("timings") or {}).get("total_s") or 0))[:5]
        for r in slowest:
            print(f"  slow: {r.get('student')} {(r.get('timings') or {}).get('total_s')} s "
                  f"{r.get('status')}")
        figures["class"] = {"n": args.n, "kinds": kinds, "wall_s": wall,
                            "statuses": statuses(rows), "per_notebook_s": per_notebook(rows)}

    if not args.skip_all:
        trainees = out / "class-train"
        shutil.rmtree(trainees, ignore_errors=True)
        make_class(trainees, args.train_n, args.seed + 1,
                   mix={"correct": 1, "buggy": 0, "slow": 0, "broken": 0})
        static = grade([trainees], out / "train-static", 1, "static", args.grade_arg)
        full = grade([trainees], out / "train-all", 1, "all", args.grade_arg)
        extra = max(0.0, (full - static) / args.train_n)
        static_class = (figures.get("class") or {}).get("wall_s")
        base = static_class if isinstance(static_class, float) else \
            static / args.train_n * args.n / args.workers
        projected = base + extra * args.n / args.workers
        print(f"--checks all on {args.train_n} correct notebooks, 1 worker: {full:.1f} s "
              f"(static alone {static:.1f} s): training adds {extra:.1f} s per notebook  "
              f"({load()})", flush=True)
        print(f"projected --checks all, {args.n} notebooks, --workers {args.workers}: "
              f"{projected / 60:.0f} min ({projected / 3600:.1f} h); CPU only, synthetic data "
              f"unless --grade-arg=--data=... is given", flush=True)
        figures["all"] = {"n": args.train_n, "wall_s": full, "static_s": static,
                          "extra_per_notebook_s": extra, "projected_class_s": projected}

    (out / "bench_batch.json").write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""How well the similarity score separates copies from independent solutions, and where to
put the threshold.

    python benchmarks/bench_similarity.py [--classes 5] [--students 30] [--field DIR]

Generated classes (tests/similarity_factory.py): in each, `--students` independent solutions
in drawn styles plus disguised copies of some of them: `full` (renamed, `__init__` reordered,
reformatted, commented), `rename` (renamed only) and `restructured` (the same design with
another grouping of layers and new names, reported apart: the limit of a token comparison).
Every pair is scored on every target of csc413-2023-a2. The script prints the score
distributions of copies and of independent pairs for each setting in a small grid, the
detection and false-positive rates at each threshold, and the margin between the populations.

`--field DIR` also scores a folder of real submissions (one student each, independent as far
as anyone knows) under csc413-2023-a2 and csc413-2020-pa2, and lists every pair at or above
the threshold with a check a person can judge: how many of the pair's raw lines (as typed,
whitespace and comments included, the baseline's lines excluded) are identical. Independent
authors almost never type the same long line byte for byte; copies keep many.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from grader.ingest import IngestError, load_submission  # noqa: E402
from grader.rubric.schema import load_rubric  # noqa: E402
from grader.similarity.analyse import Fragments, collect, score  # noqa: E402
from grader.similarity.baseline import load_baseline  # noqa: E402
from grader.similarity.compare import Settings  # noqa: E402
from grader.similarity.fragments import class_targets  # noqa: E402
from grader.similarity.normalise import normalise  # noqa: E402
from tests import similarity_factory as factory  # noqa: E402

GRID = [Settings(k=k, common_share=share, floor=floor)
        for k in (12, 16) for share in (0.1, 0.2) for floor in (25, 60)]
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7)
KINDS = ("full", "rename", "restructured")


def generated_class(seed: int, students: int, folder: Path) -> dict[tuple[str, str], str]:
    """Write one class; return {(original, copy): kind} for its copy pairs."""
    rng = random.Random(seed)
    code: dict[str, dict[str, str]] = {}
    styles = {}
    seen: set[str] = set()
    while len(code) < students:   # distinct programs: equal ones are copies by construction
        style = factory.Style.draw(rng)
        written = {t: factory.solution(style, t) for t in factory.TARGETS}
        canonical = "\n".join(" ".join(t.text for t in normalise(factory.IMPORTS + src))
                              for src in written.values())
        if canonical in seen:
            continue
        seen.add(canonical)
        name = f"s{len(code):02d}"
        styles[name], code[name] = style, written
    pairs: dict[tuple[str, str], str] = {}
    originals = rng.sample(sorted(code), k=min(len(code), 12))
    for n, original in enumerate(originals):
        kind = KINDS[0] if n < 6 else KINDS[1] if n < 9 else KINDS[2]
        name = f"c{n:02d}_{original}"
        if kind == "restructured":
            style = factory.restructured(styles[original], rng)
            code[name] = {t: factory.disguise(factory.solution(style, t), rng, level="rename")
                          for t in factory.TARGETS}
        else:
            code[name] = {t: factory.disguise(src, rng, level=kind)
                          for t, src in code[original].items()}
        pairs[(original, name)] = kind
    factory.write_class(folder, code)
    return pairs


def load_folder(folder: Path, rubric) -> Fragments:  # noqa: ANN001 - a Rubric
    submissions = []
    for path in sorted(folder.iterdir()):
        try:
            submissions.append(load_submission(path))
        except IngestError:
            continue
    found, _ = collect(submissions, rubric)
    return found


def quantiles(values: list[float]) -> str:
    if not values:
        return "none"
    values = sorted(values)
    pick = [values[int(q * (len(values) - 1))] for q in (0.5, 0.9, 0.99)]
    return (f"n={len(values):5d} median {pick[0]:.2f} p90 {pick[1]:.2f} p99 {pick[2]:.2f} "
            f"max {values[-1]:.2f}")


def synthetic(args: argparse.Namespace) -> None:
    rubric = load_rubric("csc413-2023-a2")
    baseline = load_baseline(rubric)
    classes = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.classes):
            folder = Path(tmp) / f"class{seed}"
            pairs = generated_class(seed, args.students, folder)
            classes.append((load_folder(folder, rubric), pairs))
    print(f"{args.classes} generated classes of {args.students} independent students "
          f"+ 12 copies each (6 full disguise, 3 rename only, 3 restructured)\n")
    for settings in GRID:
        copies: dict[str, list[float]] = {k: [] for k in KINDS}
        independent: list[float] = []
        for found, pairs in classes:
            result = score(found, rubric, baseline, settings)
            scored = {tuple(sorted((p.a, p.b))): p.score for p in result.pairs}
            students = sorted(found)
            for i, a in enumerate(students):
                for b in students[i + 1:]:
                    value = scored.get((a, b), 0.0)
                    kind = pairs.get((a, b)) or pairs.get((b, a))
                    if kind:
                        copies[kind].append(value)
                    elif not (a.startswith("c") and b.startswith("c")
                              and a.split("_")[1] == b.split("_")[1]):
                        independent.append(value)
        print(f"k={settings.k} common_share={settings.common_share} floor={settings.floor}")
        for kind in KINDS:
            print(f"  copies {kind:<12} {quantiles(copies[kind])}")
        print(f"  independent         {quantiles(independent)}")
        caught = copies["full"] + copies["rename"]
        margin = min(caught) - max(independent)
        print(f"  margin (lowest full/rename copy - highest independent): {margin:+.2f}")
        for t in THRESHOLDS:
            det = sum(v >= t for v in caught) / len(caught)
            restr = sum(v >= t for v in copies["restructured"]) / max(1, len(copies[
                "restructured"]))
            fp = sum(v >= t for v in independent)
            print(f"    threshold {t:.1f}: copies detected {det:6.1%} (restructured "
                  f"{restr:5.1%}), independent pairs flagged {fp} of {len(independent)}")
        print()


def raw_lines(fragment, baseline_lines: set[str]) -> set[str]:  # noqa: ANN001
    """The long lines of a fragment as typed (the baseline's own lines left out)."""
    return {line.text.rstrip() for line in fragment.lines
            if len(line.text.strip()) >= 30 and line.text.strip() not in baseline_lines}


def same_source(found: Fragments, a: str, b: str, baseline_lines: set[str]) -> tuple[int, int]:
    """(identical long raw lines, long raw lines of the smaller side) over shared targets."""
    same = total = 0
    for target in set(found[a]) & set(found[b]):
        mine = raw_lines(found[a][target], baseline_lines)
        theirs = raw_lines(found[b][target], baseline_lines)
        same += len(mine & theirs)
        total += min(len(mine), len(theirs))
    return same, total


def judged_copy(found: Fragments, a: str, b: str, baseline_lines: set[str]) -> bool:
    """Same repository owner (versions of one notebook), or half the long lines identical
    as typed: the pair shares a source, whoever wrote it."""
    same, total = same_source(found, a, b, baseline_lines)
    return a.split("__")[0] == b.split("__")[0] or (total > 0 and same >= 0.5 * total)


def field(args: argparse.Namespace) -> None:
    for rubric_id in ("csc413-2023-a2", "csc413-2020-pa2"):
        rubric = load_rubric(rubric_id)
        baseline = load_baseline(rubric)
        base_lines = {line.text.strip() for fs in baseline.fragments.values() for f in fs
                      for line in f.lines}
        started = time.perf_counter()
        found = load_folder(Path(args.field), rubric)
        took = time.perf_counter() - started
        defined = ", ".join(f"{t} {sum(t in f for f in found.values())}"
                            for t in class_targets(rubric))
        print(f"field: {len(found)} submissions under {rubric_id}, read in {took:.1f} s "
              f"(defining {defined})")
        judged: dict[tuple[str, str], bool] = {}
        for settings in GRID:
            result = score(found, rubric, baseline, settings)
            scored = {tuple(sorted((p.a, p.b))): p.score for p in result.pairs}
            values = [scored.get(p, 0.0) for p in _pairs(list(found))]
            print(f"  k={settings.k} common_share={settings.common_share} "
                  f"floor={settings.floor}: pairs {quantiles(values)}")
            for t in THRESHOLDS:
                flagged = [p for p in result.pairs if p.score >= t]
                for p in flagged:
                    key = (p.a, p.b)
                    if key not in judged:
                        judged[key] = judged_copy(found, p.a, p.b, base_lines)
                false = sum(not judged[(p.a, p.b)] for p in flagged)
                print(f"    threshold {t:.1f}: {len(flagged)} pairs flagged, {false} without "
                      "a shared source (false positives as far as the raw text shows)")
        result = score(found, rubric, baseline, Settings())
        print(f"  flagged at the default settings (threshold {Settings().threshold}):")
        for p in result.flagged:
            same, total = same_source(found, p.a, p.b, base_lines)
            verdict = "shared source" if judged_copy(found, p.a, p.b, base_lines) else (
                "no shared source: false positive")
            print(f"    {p.score:.2f} {p.a[:34]:<34} {p.b[:34]:<34} identical raw lines "
                  f"{same}/{total}: {verdict}")
        print()


def _pairs(students: list[str]) -> list[tuple[str, str]]:
    students = sorted(students)
    return [(a, b) for i, a in enumerate(students) for b in students[i + 1:]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=5)
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--field", metavar="DIR", help="a folder of real submissions")
    args = parser.parse_args()
    synthetic(args)
    if args.field:
        field(args)


if __name__ == "__main__":
    main()

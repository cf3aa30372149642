"""Field test: grade real student submissions and compare the grader with a TA's verdicts.

The submissions themselves are public student work and are not in this repository; the manifest
says where each one is (repository, commit, path) and `fetch` below brings them into a local
folder where the network allows it. The verdicts are what a TA gave each model after reading its
code: `full` (full marks for that model's code), `fault` (a real deviation from the handout) or
`missing` (not written), or `n/a` (an offering no shipped rubric describes: graded only
to show the batch survives it, not compared).

    python benchmarks/field/run_field.py --files ~/field-files [--out out/field] [--workers 2]
    python benchmarks/field/run_field.py --fetch ~/field-files      # git clone at the commits

For each model the grader's verdict is read off the questions that grade it without training
(`--checks static`): `full` when every assessed check of those questions passed, `missing` when
they failed because the class or function is not defined, `internal` when the grader failed,
`fault` otherwise. Every disagreement is printed with the TA's note and the grader's messages,
so it can be explained (docs/field-test.md).
"""

from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from grader.batch.run import grade_batch  # noqa: E402
from grader.batch.store import ResultStore  # noqa: E402
from grader.pipeline import Options  # noqa: E402
from grader.result import QuestionResult, Result  # noqa: E402
from grader.rubric.schema import load_rubric  # noqa: E402


@dataclass
class Entry:
    id: str
    repository: str
    commit: str
    path: str
    offering: str
    rubric: str

    @property
    def paths(self) -> list[str]:
        """The submission's files in the repository (several make a folder submission)."""
        return [p.strip() for p in self.path.split(",") if p.strip()]

    @property
    def filename(self) -> str:
        """The local name: `<id>.ipynb` / `<id>.py`, or a folder `<id>` for several files."""
        paths = self.paths
        return self.id if len(paths) > 1 else self.id + Path(paths[0]).suffix


def read_tsv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def manifest() -> list[Entry]:
    return [Entry(**row) for row in read_tsv(HERE / "manifest.tsv")]


def verdicts() -> dict[tuple[str, str], dict[str, str]]:
    return {(row["id"], row["model"]): row for row in read_tsv(HERE / "verdicts.tsv")}


def fetch(entries: list[Entry], folder: Path) -> None:
    """Fetch each file at its commit (needs network access to GitHub)."""
    folder.mkdir(parents=True, exist_ok=True)
    for e in entries:
        target = folder / e.filename
        if target.exists():
            continue
        with tempfile.TemporaryDirectory() as tmp:
            url = f"https://github.com/{e.repository}.git"
            subprocess.run(["git", "clone", "--quiet", "--filter=blob:none", "--no-checkout", url,
                            tmp], check=True)
            for path in e.paths:
                blob = subprocess.run(["git", "-C", tmp, "show", f"{e.commit}:{path}"],
                                      check=True, capture_output=True).stdout
                dest = target / path if len(e.paths) > 1 else target
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(blob)
        print(f"fetched {e.filename}")


def questions_of(rubric_id: str) -> dict[str, list[str]]:
    """Model (target) -> the ids of the questions that grade it without training."""
    rubric = load_rubric(rubric_id)
    out: dict[str, list[str]] = defaultdict(list)
    for question in rubric.questions:
        for spec in question.checks:
            if spec.target and spec.stage != "training" and str(question.id) not in out[
                    spec.target]:
                out[spec.target].append(str(question.id))
    return out


def grader_verdict(result: Result, questions: list[QuestionResult]) -> tuple[str, list[str]]:
    """(verdict, messages of the checks that lost points) for one model."""
    checks = [c for q in questions for c in q.checks if c.assessed]
    lost = [c for c in checks if c.status != "passed"]
    messages = [f"{c.id}: {c.status}: {c.message}" for c in lost]
    if result.status == "internal" and not checks:
        return "internal", [result.error.message if result.error else "grader failure"]
    if any(c.status == "internal" for c in checks):
        return "internal", messages
    if not lost:
        return "full", messages
    problems = [c.problem for c in lost if c.problem is not None]
    if problems and all(p.kind == "missing" for p in problems):
        return "missing", messages
    return "fault", messages


def _compare(store: ResultStore, rubric_id: str, group: list[Entry],
             expected: dict[tuple[str, str], dict[str, str]]) -> list[tuple]:
    """(entry, model, TA verdict, grader verdict, TA note, grader messages) per compared model."""
    rows = []
    models = questions_of(rubric_id)
    for e in group:
        result = store.load(e.id)
        if result is None:
            continue
        for model, qids in models.items():
            ta = expected.get((e.id, model))
            if ta is None or ta["verdict"] == "n/a":   # graded, not compared
                continue
            got, messages = grader_verdict(result, [q for q in result.questions if q.id in qids])
            rows.append((e, model, ta["verdict"], got, ta["note"], messages))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=Path, help="folder holding the fetched submissions")
    parser.add_argument("--fetch", type=Path, metavar="DIR", help="fetch the files into DIR")
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "field")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--regrade", action="store_true")
    parser.add_argument("--results", type=Path, metavar="DIR",
                        help="compare the results already in DIR/<rubric>/ (an earlier run, "
                             "or another grader version's) instead of grading")
    args = parser.parse_args(argv)
    entries = manifest()
    if args.fetch:
        fetch(entries, args.fetch)
        return 0
    if not args.files and not args.results:
        parser.error("--files, --results or --fetch is required")
    expected = verdicts()
    by_rubric: dict[str, list[Entry]] = defaultdict(list)
    for e in entries:
        if args.results or (args.files / e.filename).exists():
            by_rubric[e.rubric].append(e)
        else:
            print(f"missing file: {e.filename} (fetch it first)", file=sys.stderr)
    rows = []
    crashes = 0
    seconds: list[float] = []
    for rubric_id, group in sorted(by_rubric.items()):
        if args.results:
            out = args.results / rubric_id
            rows.extend(_compare(ResultStore(out), rubric_id, group, expected))
            crashes += sum(1 for e in group if (ResultStore(out).load(e.id) is None or
                                                ResultStore(out).load(e.id).status
                                                == "internal"))
            continue
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            for e in group:
                source = args.files / e.filename
                if source.is_dir():
                    shutil.copytree(source, folder / e.filename)
                else:
                    shutil.copyfile(source, folder / e.filename)
            out = args.out / rubric_id
            started = time.monotonic()
            summary = grade_batch([folder], rubric_id, out, Options(checks="static"),
                                  workers=args.workers, quiet=True, regrade=args.regrade)
            print(f"{rubric_id}: {summary.total} files in {time.monotonic() - started:.1f} s; "
                  f"{summary.internal} internal, {summary.errors} not gradable",
                  file=sys.stderr)
        store = ResultStore(out)
        for e in group:
            result = store.load(e.id)
            crashes += result is None or result.status == "internal"
            if result is not None and result.wall_s is not None:
                seconds.append(result.wall_s)
        rows.extend(_compare(store, rubric_id, group, expected))
    outcome = Counter()
    print(f"\n{'file':60} {'model':17} {'TA':8} {'grader':8}")
    for e, model, ta, got, note, messages in rows:
        if ta == got:
            kind = "agree"
        elif ta == "full":
            kind = "false deduction"
        elif got == "full":
            kind = "fault missed"
        else:
            kind = "other"
        outcome[kind] += 1
        if kind == "agree":
            outcome[f"agree {ta}"] += 1
            continue
        print(f"{e.id[:60]:60} {model:17} {ta:8} {got:8}  <- {kind}")
        print(f"    TA: {note}")
        for m in messages[:4]:
            print(f"    grader: {m[:300]}")
    faults = sum(1 for r in rows if r[2] == "fault")
    caught = sum(1 for r in rows if r[2] == "fault" and r[3] == "fault")
    print(f"\nfiles graded: {sum(len(g) for g in by_rubric.values())}; models compared: "
          f"{len(rows)}; grader failures (internal rows): {crashes}")
    print(f"agree: {outcome['agree']} (full {outcome['agree full']}, fault "
          f"{outcome['agree fault']}, missing {outcome['agree missing']}); false deductions: "
          f"{outcome['false deduction']}; faults caught: {caught} / {faults}; other "
          f"disagreements: {outcome['other']}")
    if seconds:
        seconds.sort()
        print(f"time per file: median {seconds[len(seconds) // 2]:.1f} s, max "
              f"{seconds[-1]:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

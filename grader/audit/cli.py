"""``grader audit --rubric FILE``: grade mutants of the reference solution with the rubric.

Prints one row per mutant (did it lose points, on which checks) and writes a self-contained
HTML page and a JSON record to ``--out``. Exit status 0 when every bug-mutant lost points and
every equivalent rewrite kept full marks (mutants whose checks do not run in this mode are
reported, not counted), 1 otherwise, 2 on a usage or rubric error.
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path
from typing import Any

from grader.audit.report import format_table, write_html, write_json
from grader.audit.run import AuditReport, MutantResult, audit
from grader.result import Result

__all__ = ["add_parser", "build_parser", "main", "run_audit"]


def _arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--rubric", required=True, metavar="FILE",
                        help="rubric YAML, or a shipped rubric id (e.g. csc413-2023-a2)")
    parser.add_argument("--out", metavar="DIR", default=None,
                        help="where audit.html, audit.json and mutants/ go "
                             "(default out/audit/<rubric id>)")
    parser.add_argument("--workers", type=int, default=1, metavar="N",
                        help="mutants graded in parallel, one sandbox each (default 1)")
    parser.add_argument("--checks", choices=("static", "all"), default="static",
                        help="grading mode (default static: no training)")
    parser.add_argument("--only", action="append", default=[], metavar="ID",
                        help="audit only these mutant ids or id prefixes (repeatable)")
    parser.add_argument("--list", action="store_true",
                        help="list the mutants and exit without grading")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    return parser


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `audit` on the `grader` command's subparsers."""
    return _arguments(subparsers.add_parser("audit", help=__doc__.splitlines()[0],
                                            description=__doc__,
                                            formatter_class=argparse.RawDescriptionHelpFormatter))


def build_parser(prog: str = "grader audit") -> argparse.ArgumentParser:
    return _arguments(argparse.ArgumentParser(
        prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter))


class _GraderPerThread:
    """`grade(path, student)` over one warm `Grader` per calling thread (a Grader has a single
    sandbox and is not meant to be shared between threads)."""

    def __init__(self, rubric: Any, checks: str) -> None:
        self.rubric, self.checks = rubric, checks
        self.local = threading.local()
        self.all: list[Any] = []
        self.lock = threading.Lock()

    def __call__(self, path: Path, student: str) -> Result:
        from grader.pipeline import Grader

        g = getattr(self.local, "grader", None)
        if g is None:
            g = Grader(self.rubric, checks=self.checks)
            self.local.grader = g
            with self.lock:
                self.all.append(g)
        return g.grade_path(path, student=student).result

    def close(self) -> None:
        for g in self.all:
            g.close()


def run_audit(rubric: Any, *, out: Path | None = None, workers: int = 1, checks: str = "static",
              only: list[str] | None = None, progress: bool = True) -> AuditReport:
    """The audit of a loaded rubric with the real pipeline; writes the page when `out`."""
    from grader.audit.mutants import mutants_for

    mutants = mutants_for(rubric)
    if only:
        mutants = [m for m in mutants if any(m.id == o or m.id.startswith(o) for o in only)]
    grade = _GraderPerThread(rubric, checks)

    def show(r: MutantResult) -> None:
        lost = ", ".join(c.label for c in r.lost_checks) or "-"
        print(f"  {r.mutant.id:<34} {r.verdict:<14} {lost}", file=sys.stderr, flush=True)

    try:
        return audit(rubric, grade, mutants=mutants, out_dir=out, workers=max(1, workers),
                     checks_mode=checks, progress=show if progress else None)
    finally:
        grade.close()


def main(argv: list[str] | argparse.Namespace | None = None) -> int:
    """Run ``grader audit``; accepts an argv list or an already parsed namespace."""
    from grader.rubric.schema import load_rubric
    from grader.rubric.yamlpos import RubricError

    args = (argv if isinstance(argv, argparse.Namespace)
            else build_parser().parse_args(sys.argv[1:] if argv is None else argv))
    try:
        rubric = load_rubric(args.rubric)
    except (RubricError, FileNotFoundError) as exc:
        print(f"grader audit: {exc}", file=sys.stderr)
        return 2
    if args.list:
        from grader.audit.mutants import mutants_for

        for m in mutants_for(rubric):
            kind = "equivalent" if m.equivalent else m.category
            print(f"{m.id:<34} {m.target:<18} {kind:<16} {m.description}")
        return 0
    out = Path(args.out or f"out/audit/{rubric.id}")
    report = run_audit(rubric, out=out, workers=args.workers, checks=args.checks,
                       only=args.only, progress=not args.quiet)
    print(format_table(report))
    page = write_html(report, out / "audit.html")
    write_json(report, out / "audit.json")
    print(f"report: {page}")
    return 0 if report.ok else 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

"""``grader similarity PATH... --rubric ID --out DIR``: pairs of students whose code for the
rubric's classes is more alike than independent correct solutions are.

Reads a class folder (or a download) the way ``grader grade`` does, compares each student's
code for every class target with the starter's and the reference's code subtracted, writes
DIR/similarity.html (flagged pairs side by side, shared lines highlighted) and
DIR/similarity.csv, and prints a summary. A lead for a TA, never a deduction. Exit status 0,
or 2 on a usage or rubric error.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from grader.similarity.compare import Settings


def build_parser(prog: str = "grader similarity") -> argparse.ArgumentParser:
    from grader.ingest.layouts import layout_names

    parser = argparse.ArgumentParser(prog=prog, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="notebooks, .py files, zips, folders, or class folders of them")
    parser.add_argument("--rubric", required=True, metavar="FILE",
                        help="rubric YAML, or a shipped rubric id (e.g. csc413-2023-a2)")
    parser.add_argument("--out", default="out/similarity", metavar="DIR")
    parser.add_argument("--threshold", type=float, default=Settings().threshold, metavar="T",
                        help="flag pairs scoring at least T, 0..1 (default %(default)s, "
                             "chosen on measurements: docs/similarity.md)")
    parser.add_argument("--starter", metavar="NOTEBOOK",
                        help="the course's starter notebook: its code is subtracted too")
    parser.add_argument("--layout", default="auto", choices=layout_names(),
                        help="how to read a download folder (as grader grade)")
    return parser


def main(argv: list[str] | None = None) -> int:
    from grader.ingest import IngestError
    from grader.ingest.layouts import read_download
    from grader.rubric.schema import load_rubric
    from grader.rubric.yamlpos import RubricError
    from grader.similarity.analyse import analyse, read_entries
    from grader.similarity.report import summary, write_report

    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    if not 0.0 <= args.threshold <= 1.0:
        print("grader similarity: --threshold must be between 0 and 1", file=sys.stderr)
        return 2
    out = Path(args.out)
    try:
        rubric = load_rubric(args.rubric)
        found = read_download([Path(p) for p in args.paths], args.layout,
                              rubric.student_pattern, scratch=out / ".downloads")
        submissions, skipped = read_entries(found.entries)
        similarity = analyse(submissions, rubric, skipped=skipped,
                             starter=Path(args.starter) if args.starter else None,
                             settings=replace(Settings(), threshold=args.threshold))
    except (RubricError, FileNotFoundError, ValueError, IngestError) as exc:
        print(f"grader similarity: {exc}", file=sys.stderr)
        return 2
    page, _ = write_report(similarity, out)
    print(summary(similarity, page))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

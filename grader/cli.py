"""The `grader` command: grade a class, self-check one notebook, compile, selftest, demo,
audit a rubric, check written answers.

    grader grade class/ --rubric csc413-2023-a2 --out out/grades --workers 2
    grader check my_notebook.ipynb --rubric csc413-2023-a2
    grader selftest --rubric csc413-2020-pa2
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_SUBMISSIONS = ROOT / "submissions" / "reference"
REFERENCE_WRITEUPS = ROOT / "submissions" / "writeups"
EXAMPLES = ROOT / "submissions" / "examples"
DEMO_RUBRIC = "csc413-2023-a2"
# `grader grade` exit statuses: 0 every row graded (students' own failures included), 2 a bad
# rubric or usage, 3 the batch completed but some rows are grader failures (or a class output
# could not be written) and need a TA's attention.
EXIT_ATTENTION = 3


def _rubric_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rubric", required=True, metavar="FILE",
                        help="rubric YAML, or a shipped rubric id (e.g. csc413-2023-a2)")


def _options_args(parser: argparse.ArgumentParser, default_checks: str = "static") -> None:
    parser.add_argument("--checks", choices=("static", "all"), default=default_checks,
                        help="static: architecture, shapes, parameters, gradients, fine-tuning; "
                             "all: also train every model (default: %(default)s)")
    parser.add_argument("--data", metavar="PATH", help="CIFAR-10 (cifar-10-batches-py/ or "
                        "train/test image folders); default: built-in synthetic horses")
    parser.add_argument("--colours", metavar="PATH", help="the course palette file "
                        "(colours/colour_kmeans24_cat7.npy); default: k-means on the data")
    parser.add_argument("--timeout", type=float, metavar="S", help="seconds per sandbox task")
    parser.add_argument("--memory", metavar="SIZE", help="memory per sandbox task, e.g. 6G")
    parser.add_argument("--device", default="auto", help="training device: auto, cpu, cuda")
    parser.add_argument("--budget", choices=("rubric", "handout"), default="rubric",
                        help="training checks' budget: the rubric's fast one (default), or the "
                             "handout's own (25 epochs on 5,000 images: final grades on a GPU; "
                             "hours on a CPU)")
    parser.add_argument("--isolation", choices=("auto", "bwrap", "none"), default="auto",
                        help="sandbox mechanism; auto falls back loudly when bwrap is missing")
    parser.add_argument("--cache-dir", metavar="DIR",
                        help="data packs and reference calibrations (default ~/.cache/pa2-grader)")


def _options(args: argparse.Namespace, public_only: bool = False):  # noqa: ANN202
    from grader.pipeline import Options

    return Options(checks=args.checks, data=args.data, colours=args.colours,
                   timeout=args.timeout, memory=args.memory, device=args.device,
                   public_only=public_only, cache_dir=args.cache_dir, isolation=args.isolation,
                   budget=args.budget)


def _export_args(parser: argparse.ArgumentParser) -> None:
    """--export NAME and each exporter's own options, from the exporter registry."""
    from grader.reports.exports import exporters

    registry = exporters()
    optional = [e for e in registry.values() if not e.always]
    always = ", ".join(f"{e.name} ({e.help})" for e in registry.values() if e.always)
    parser.add_argument("--export", action="append", default=[],
                        choices=[e.name for e in optional], metavar="NAME",
                        help="also write: " + "; ".join(f"{e.name}: {e.help}"
                                                        for e in optional)
                        + f". Always written: {always}")
    parser.add_argument("--zero-errors", action="store_true",
                        help="grade uploads (canvas, markus) record 0 for a submission that "
                             "could not be graded because of itself (no code, unreadable "
                             "file) instead of leaving it blank for a TA; grader failures "
                             "and checks awaiting review stay blank")
    for export in registry.values():
        for option in export.options:
            parser.add_argument(option.flag, type=option.type, metavar=option.metavar,
                                dest=option.key, help=f"{export.name}: {option.help}")


def _export_options(args: argparse.Namespace) -> dict[str, object]:
    from grader.reports.exports import exporters

    return {o.key: getattr(args, o.key) for e in exporters().values() for o in e.options
            if getattr(args, o.key, None) is not None}


def _layout_names() -> list[str]:
    from grader.ingest.layouts import layout_names

    return layout_names()


def _layout_help() -> str:
    from grader.ingest.layouts import layouts

    return "; ".join(f"{name}: {entry.help}" for name, entry in layouts().items())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grader", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    grade = sub.add_parser("grade", help="grade submissions into reports and a gradebook")
    grade.add_argument("paths", nargs="+", metavar="PATH",
                       help="notebooks, .py files, zips, folders, or class folders of them")
    _rubric_arg(grade)
    grade.add_argument("--out", default="out/grades", metavar="DIR")
    grade.add_argument("--workers", type=int, default=1, metavar="N",
                       help="submissions graded in parallel on this machine")
    grade.add_argument("--dask", metavar="ADDRESS",
                       help="grade on a Dask cluster (tcp://host:8786), or 'local' to start one")
    grade.add_argument("--layout", default="auto", choices=_layout_names(),
                       help="how to read a download folder or its zip: " + _layout_help()
                       + "; auto (default) detects it and says what it chose")
    grade.add_argument("--writeups", metavar="DIR",
                       help="the students' write-ups, named by student id (alice.pdf, "
                            "alice_a2.md, alice/...); else write-ups handed in with the "
                            "notebook, then the notebook's own Markdown, are read")
    grade.add_argument("--overrides", metavar="FILE",
                       help="course staff overrides (YAML or CSV; default: overrides.yaml or "
                            ".csv in --out); kept across regrades")
    grade.add_argument("--extensions", metavar="CSV",
                       help="per-student extensions for the rubric's late policy "
                            "(student,days|hours|deadline[,reason]); overrides the rubric's")
    _export_args(grade)
    grade.add_argument("--regrade", action="store_true", help="ignore stored results")
    grade.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    _options_args(grade)

    check = sub.add_parser("check", help="self-check one submission (public checks only)")
    check.add_argument("path", metavar="FILE")
    _rubric_arg(check)
    check.add_argument("--report", default="grader-report.html", metavar="HTML")
    check.add_argument("--json", metavar="FILE", help="also write the result as JSON")
    _options_args(check)

    comp = sub.add_parser("compile", help="compile a rubric's expectations from the reference")
    comp.add_argument("--rubric", action="append", metavar="FILE",
                      help="rubric(s) to compile (default: every shipped rubric)")

    selftest = sub.add_parser("selftest", help="grade submissions/reference/ for a rubric; "
                                               "exit 0 only on full marks")
    _rubric_arg(selftest)
    selftest.add_argument("--out", default=None, metavar="DIR")
    _options_args(selftest, default_checks="all")

    demo = sub.add_parser("demo", help="grade the example class and print the dashboard path")
    demo.add_argument("--out", default="out/demo", metavar="DIR")
    demo.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    _options_args(demo, default_checks="all")

    override = sub.add_parser("override", help="record a course staff change to one student's "
                                                "question or check (kept across regrades)")
    override.add_argument("out", metavar="DIR", help="the batch's output folder")
    override.add_argument("student")
    override.add_argument("target", help="a question id (4.1), a check (4.1/architecture), or "
                                         "total")
    change = override.add_mutually_exclusive_group(required=True)
    change.add_argument("--points", type=float, help="what the target is worth now")
    change.add_argument("--delta", type=float, help="a change to what the checks gave")
    override.add_argument("--reason", required=True, help="shown to the student")
    override.add_argument("--by", help="who made the change")

    sub.add_parser("answers", help="check written counting answers (see grader answers -h)",
                   add_help=False)
    sub.add_parser("audit", help="mutation-audit a rubric (see grader audit -h)", add_help=False)
    sub.add_parser("similarity", help="pairs of students with unusually similar code for the "
                                      "rubric's classes (see grader similarity -h)", add_help=False)
    sub.add_parser("gradescope", help="build a Gradescope autograder zip, or run it (see "
                                      "grader gradescope -h)", add_help=False)
    return parser


def cmd_grade(args: argparse.Namespace) -> int:
    from grader.batch.run import grade_batch

    summary = grade_batch(args.paths, args.rubric, args.out, _options(args),
                          workers=args.workers, dask=args.dask, quiet=args.quiet,
                          exports=tuple(args.export), export_options=_export_options(args),
                          regrade=args.regrade, layout=args.layout, extensions=args.extensions,
                          overrides=args.overrides, writeups=args.writeups,
                          zero_errors=args.zero_errors)
    print(f"layout {summary.layout} ({summary.layout_why})")
    print(f"{summary.total} submission(s): {summary.graded_now} graded now, {summary.reused} "
          f"already graded; {summary.errors} could not be graded; {summary.internal} with "
          f"grader failures; {summary.late} with a late penalty line; {summary.wall_s:.1f} s")
    for note in summary.notes:
        print(f"  {note}")
    for path, why in summary.ignored:
        print(f"  ignored {path}: {why}")
    for failure in summary.failed_outputs:
        print(f"  NOT WRITTEN {failure}", file=sys.stderr)
    print(f"gradebook: {summary.gradebook or 'not written'}")
    print(f"dashboard: {summary.index or 'not written'}")
    if summary.needs_attention:
        print(f"{summary.internal} row(s) with grader failures (status 'internal') and "
              f"{summary.review} with checks awaiting review (the gradebook's review column) "
              "need a TA's attention; exit status 3", file=sys.stderr)
        return EXIT_ATTENTION
    return 0


def cmd_override(args: argparse.Namespace) -> int:
    from grader.batch.store import ResultStore
    from grader.overrides import OverrideError, add_override

    stored = ResultStore(Path(args.out)).load(args.student)
    if stored is None:
        raise OverrideError(f"no graded result for {args.student!r} in {args.out}")
    path, adjustment = add_override(Path(args.out), stored, target=args.target,
                                    points=args.points, delta=args.delta, reason=args.reason,
                                    by=args.by)
    print(f"recorded in {path}: {args.student} {args.target} "
          f"{adjustment.points:+.2f} ({adjustment.reason})")
    print("run the same `grader grade ... --out` again to update the reports and exports "
          "(nothing is regraded)")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from grader.files import atomic_write_text
    from grader.pipeline import Grader
    from grader.reports.student import render_student_report
    from grader.reports.terminal import format_terminal_summary, wants_colour

    report = Path(args.report)
    with Grader(args.rubric, options=_options(args, public_only=True)) as g:
        graded = g.grade_path(args.path)
    folder = report.parent
    files = report.with_name(report.stem + "-files")
    for name, data in graded.artifacts.items():
        target = files / Path(name).name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    result = graded.result
    for q in result.questions:   # artifact paths relative to the report's folder
        for c in q.checks:
            pic = c.details.get("samples")
            if pic:
                c.details["samples"] = str((files / Path(pic).name).relative_to(folder))
    render_student_report(result, folder, audience="student", filename=report.name,
                          artifacts_root=folder)
    if args.json:
        atomic_write_text(Path(args.json), result.to_json())
    print(format_terminal_summary(result, colour=wants_colour(sys.stdout),
                                  report_path=str(report)))
    return 0


def cmd_compile(args: argparse.Namespace) -> int:
    from grader.rubric.compile import write_compiled
    from grader.rubric.schema import RUBRICS_DIR, load_rubric

    names = args.rubric or sorted(str(p) for p in RUBRICS_DIR.glob("*.yaml"))
    for name in names:
        rubric = load_rubric(name)
        path = write_compiled(rubric)
        print(f"{rubric.id}: {path} ({path.stat().st_size // 1024} KiB)")
    return 0


def cmd_selftest(args: argparse.Namespace) -> int:
    from grader.batch.run import grade_batch
    from grader.rubric.schema import load_rubric

    rubric = load_rubric(args.rubric)
    folder = REFERENCE_SUBMISSIONS / rubric.id
    if not folder.is_dir():
        print(f"selftest: no reference submissions in {folder}", file=sys.stderr)
        return 2
    out = Path(args.out or f"out/selftest/{rubric.id}")
    writeups = REFERENCE_WRITEUPS / rubric.id
    summary = grade_batch([folder], str(rubric.path), out, _options(args), quiet=True,
                          writeups=writeups if writeups.is_dir() else None)
    from grader.batch.store import ResultStore

    results = ResultStore(out).results()
    ok = bool(results)
    for result in results:
        lost = [(q.id, c.id, c.status, c.message) for q in result.questions
                for c in q.checks if c.status not in ("passed", "skipped")]
        full = abs(result.score - result.assessed_max_score) < 1e-6 and not lost
        ok &= full and result.status == "graded"
        print(f"{result.student}: {result.score:.2f} / {result.assessed_max_score:.2f} "
              f"assessed ({result.max_score:.2f} in the rubric) "
              f"{'FULL MARKS' if full else 'NOT FULL MARKS'}")
        for qid, cid, status, message in lost:
            print(f"  {qid} {cid}: {status}: {message}")
    print(f"selftest {rubric.id} ({args.checks}): {'ok' if ok else 'FAILED'} "
          f"in {summary.wall_s:.1f} s; dashboard {summary.index}")
    return 0 if ok else 1


def cmd_demo(args: argparse.Namespace) -> int:
    from grader.batch.run import grade_batch

    folder = EXAMPLES / DEMO_RUBRIC
    if not folder.is_dir():
        print(f"demo: the example class {folder} is missing", file=sys.stderr)
        return 2
    print(f"grading the example class {folder} with the {DEMO_RUBRIC} rubric "
          f"(--checks {args.checks}, {args.workers} worker(s), synthetic data unless --data)")
    # The class's write-ups (named by student id, in the forms students use) grade the
    # written questions; students without one have those questions unassessed, not zero.
    writeups = EXAMPLES / f"{DEMO_RUBRIC}.writeups"
    summary = grade_batch([folder], DEMO_RUBRIC, args.out, _options(args),
                          workers=args.workers, quiet=False,
                          writeups=writeups if writeups.is_dir() else None)
    print(f"{summary.total} submissions in {summary.wall_s:.1f} s "
          f"({summary.reused} reused from an earlier run); gradebook {summary.gradebook}")
    for note in summary.notes:
        print(f"  {note}")
    print(summary.index.resolve() if summary.index else "no dashboard written")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "answers":
        from grader.answers.cli import main as answers_main

        return answers_main(argv[1:])
    if argv and argv[0] == "audit":
        from grader.audit.cli import main as audit_main

        return audit_main(argv[1:])
    if argv and argv[0] == "similarity":
        from grader.similarity.cli import main as similarity_main

        return similarity_main(argv[1:])
    if argv and argv[0] == "gradescope":
        from grader.deploy.cli import main as gradescope_main

        return gradescope_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    commands = {"grade": cmd_grade, "check": cmd_check, "override": cmd_override,
                "compile": cmd_compile,
                "selftest": cmd_selftest, "demo": cmd_demo}
    if args.command is None:
        parser.print_help()
        return 0
    from grader.rubric.compile import CompileError
    from grader.rubric.yamlpos import RubricError

    try:
        return commands[args.command](args)
    except (RubricError, CompileError, FileNotFoundError, ValueError) as exc:
        print(f"grader {args.command}: {exc}", file=sys.stderr)
        return 2

"""`grader gradescope`: build a Gradescope autograder zip, or run it on one submission.

    grader gradescope build --rubric csc413-2023-a2 --out autograder.zip [--checks static|all]
    grader gradescope run [--root /autograder]        # what run_autograder calls per submission
    grader gradescope prepare [--root /autograder]    # what setup.sh calls once

docs/gradescope.md says how to upload the zip and which Gradescope settings to choose.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from grader.deploy.config import DEFAULT_ROOT, ROOT_ENV

ROOMY_TASK = 2 * 2**30   # a sandbox task allowed more than this rarely fits Gradescope's memory


def _root(args: argparse.Namespace) -> Path:
    return Path(args.root or os.environ.get(ROOT_ENV) or DEFAULT_ROOT)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grader gradescope", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    build = sub.add_parser("build", help="write the autograder zip to upload to Gradescope")
    build.add_argument("--rubric", required=True, metavar="FILE",
                       help="rubric YAML, or a shipped rubric id (e.g. csc413-2023-a2)")
    build.add_argument("--out", default="autograder.zip", metavar="ZIP")
    build.add_argument("--checks", choices=("static", "all"), default="static",
                       help="static: architecture, shapes, parameters, gradients, fine-tuning "
                            "(seconds; fits Gradescope's defaults); all: also train every "
                            "model (needs more time and memory, see docs/gradescope.md); "
                            "default %(default)s")
    build.add_argument("--timeout", type=float, metavar="S",
                       help="seconds per sandbox task (default: the rubric's)")
    build.add_argument("--memory", metavar="SIZE",
                       help="memory per sandbox task, e.g. 2G (default: the rubric's)")
    build.add_argument("--isolation", choices=("auto", "bwrap", "none"), default="auto",
                       help="auto: bubblewrap when the container allows it, else a reported "
                            "fallback; bwrap: refuse to grade without it (every run then ends "
                            "in a staff review); default %(default)s")
    for name, text in (("run", "grade <root>/submission into <root>/results/results.json"),
                       ("prepare", "check the image and build what the checks need offline "
                                   "(setup.sh runs it once)")):
        command = sub.add_parser(name, help=text)
        command.add_argument("--root", metavar="DIR",
                             help=f"Gradescope's folder (default: ${ROOT_ENV}, else "
                                  f"{DEFAULT_ROOT})")
    return parser


def cmd_build(args: argparse.Namespace) -> int:
    from grader.deploy.bundle import build_bundle

    bundle = build_bundle(args.rubric, Path(args.out), checks=args.checks,
                          timeout=args.timeout, memory=args.memory, isolation=args.isolation)
    config = bundle.config
    print(f"{bundle.path}: {len(bundle.entries)} files, {bundle.size / 1e6:.1f} MB; rubric "
          f"{config.rubric_id}, --checks {config.checks}")
    print(f"autograder points: {config.assessed_max_score:g} of the rubric's "
          f"{config.max_score:g} (set the assignment's autograder points to "
          f"{config.assessed_max_score:g})")
    if bundle.task_memory > ROOMY_TASK:
        print(f"note: a sandbox task may use {bundle.task_memory / 2**30:.1f} GiB (the rubric's "
              "limit), more than a Gradescope container usually has: a runaway submission would "
              "then be killed with the grader instead of being told it ran out of memory. "
              "--memory 1G fits a 2 GB container (docs/gradescope.md)")
    print("upload it as the assignment's autograder (docs/gradescope.md)")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """0 once results.json is written: run_autograder replaces the file only on another status."""
    import traceback

    from grader.deploy.runner import run, staff_summary

    outcome = run(_root(args))
    try:
        for line in staff_summary(outcome):
            print(line)
    except Exception:   # the log is for staff; results.json is already written
        traceback.print_exc()
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    from grader.deploy.prepare import prepare

    return prepare(_root(args))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    from grader.deploy.config import BundleError
    from grader.rubric.compile import CompileError
    from grader.rubric.yamlpos import RubricError

    commands = {"build": cmd_build, "run": cmd_run, "prepare": cmd_prepare}
    try:
        return commands[args.command](args)
    except (BundleError, RubricError, CompileError, FileNotFoundError, ValueError) as exc:
        print(f"grader gradescope {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""``grader answers``: check written counting and padding answers against the reference model."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .answerset import AnswerSetResult, check_answer_set
from .conventions import CONVENTIONS, MODEL_GIVEN, QUESTIONS
from .load import AnswersFileError, load_answer_sets
from .parse import canonical_variable
from .report import render_error, render_result, write_json

__all__ = ["build_parser", "main"]

_EPILOG = """\
input: a .yaml/.yml/.json answers file, a .ipynb notebook with a Markdown cell starting
'<!-- answers: 2023/4.3 -->', or a .md file with such a line. See examples/answers/.
exit status: 0 when every file was read and judged (whatever the verdicts), 1 when a file
could not be used, 2 on a usage error.
"""


def build_parser(prog: str = "grader answers") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__, epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("paths", nargs="*", metavar="PATH", help="answers files or notebooks")
    parser.add_argument("--json", metavar="FILE", help="also write the verdicts as JSON")
    parser.add_argument("--model", help="model when the file does not name one")
    parser.add_argument("--question", help="question id when the file does not name one "
                        f"({', '.join(QUESTIONS)})")
    parser.add_argument("--given", action="append", default=[], metavar="VAR=N",
                        help="fix a variable for every set, e.g. --given k=3 (repeatable)")
    parser.add_argument("--conventions", action="store_true",
                        help="list the counting conventions and questions, then exit")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="print only one summary line per answer set")
    return parser


def _parse_given(items: list[str], parser: argparse.ArgumentParser) -> dict[str, int]:
    given: dict[str, int] = {}
    for item in items:
        for part in item.split(","):
            name, sep, value = part.partition("=")
            var = canonical_variable(name.strip())
            if not sep or var is None or not value.strip().isdigit():
                parser.error(f"--given expects VAR=N with VAR one of NIC, NF, NC, k; got {part!r}")
            given[var] = int(value)
    return given


def _conventions_text() -> str:
    lines = ["conventions (the first of each is the handout's):"]
    for quantity, convs in CONVENTIONS.items():
        lines.append(f"  {quantity}:")
        lines.extend(f"    {c.id:<18} {c.label}" + ("" if c.default else
                                                      "  [not accepted by default]")
                     for c in convs)
    lines.append("questions:")
    for q in QUESTIONS.values():
        fixed = ", ".join(f"{n}={v}" for n, v in q.given.items()) or "nothing fixed"
        extra = f" (k = {', '.join(map(str, q.kernels))})" if q.kernels else f" ({fixed})"
        lines.append(f"  {q.id:<10} {q.model:<17} {q.kind}{extra}")
    lines.append("model defaults when no question is given:")
    for model, given in MODEL_GIVEN.items():
        lines.append(f"  {model:<17} " + (", ".join(f"{n}={v}" for n, v in given.items())
                                          or "nothing fixed"))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run ``grader answers``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.conventions:
        print(_conventions_text())
        return 0
    if not args.paths:
        parser.error("give at least one answers file or notebook")
    defaults: dict[str, Any] = {"given": _parse_given(args.given, parser)}
    if args.model:
        defaults["model"] = args.model
    if args.question:
        defaults["question"] = args.question
    results: list[AnswerSetResult] = []
    errors: list[dict[str, str]] = []
    for path in args.paths:
        try:
            sets = load_answer_sets(path, defaults)
        except AnswersFileError as exc:
            errors.append({"path": path, "message": str(exc)})
            print(render_error(path, str(exc)), file=sys.stderr)
            continue
        for aset in sets:
            try:
                result = check_answer_set(aset)
            except (KeyError, ValueError) as exc:
                errors.append({"path": aset.source, "message": str(exc)})
                print(render_error(aset.source, str(exc)), file=sys.stderr)
                continue
            results.append(result)
            if args.quiet:
                summary = ", ".join(f"{n} {s}" for s, n in result.summary().items())
                print(f"{result.source}: {summary}")
            else:
                print(render_result(result))
                print()
    if args.json:
        write_json(args.json, results, errors)
    return 1 if errors else 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main(sys.argv[1:]))

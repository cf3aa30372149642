"""``grader answers``: check written counting and padding answers against the reference model."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from .answerset import AnswerSetResult, check_answer_set
from .conventions import CONVENTIONS, MODEL_GIVEN, QUESTIONS
from .load import AnswersFileError, load_answer_sets, resolve_question
from .parse import canonical_variable
from .report import render_error, render_result, render_written, write_json
from .writeup import WriteupError, WrittenVerdict, judge_writeup, offering_questions

__all__ = ["build_parser", "main"]

_EPILOG = """\
input: a .yaml/.yml/.json answers file, a .ipynb notebook with a Markdown cell starting
'<!-- answers: 2023/4.3 -->', or a .md file with such a line. See examples/answers/.
A write-up as handed in (.pdf with a text layer, .md, .tex, .txt, or a .ipynb without the
marker) is read under its question headings: say which questions with --question 2023/4.3
or --offering 2023 (every written question of that offering). What cannot be read is listed
for a TA with the text found.
exit status: 0 when every file was read and judged (whatever the verdicts, review included),
1 when a file could not be used, 2 on a usage error.
"""
_WRITEUP_ONLY = (".pdf", ".tex")
_MAYBE_MARKED = (".md", ".markdown", ".txt", ".ipynb")
_MARKED = re.compile(r"<!--\s*answers\b", re.IGNORECASE)


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
    offerings = sorted({q.split("/", 1)[0] for q in QUESTIONS})
    parser.add_argument("--offering", choices=offerings,
                        help="for a write-up: judge every written question of this offering")
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


def _is_writeup(path: str) -> bool:
    """A write-up as handed in, rather than an answers file or a marked notebook."""
    suffix = Path(path).suffix.lower()
    if suffix in _WRITEUP_ONLY:
        return True
    if suffix not in _MAYBE_MARKED or not Path(path).is_file():
        return False
    try:
        return not _MARKED.search(Path(path).read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return False


def _writeup_questions(args: argparse.Namespace) -> list[str]:
    if args.question:
        return [resolve_question(args.question)]
    if args.offering:
        return list(offering_questions(args.offering))
    raise AnswersFileError("a write-up needs --question (e.g. --question 2023/4.3) or "
                           "--offering (e.g. --offering 2023) to say which answers to look for")


def _judge_writeup(path: str, args: argparse.Namespace, written: list[WrittenVerdict],
                   results: list[AnswerSetResult]) -> None:
    for verdict in judge_writeup(path, _writeup_questions(args)):
        written.append(verdict)
        if verdict.result is not None:
            results.append(verdict.result)
        if args.quiet:
            print(f"{path} {verdict.question}: {verdict.status} {verdict.fraction:.2f}")
        else:
            print(render_written(verdict))
            print()


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
    written: list[WrittenVerdict] = []
    for path in args.paths:
        if _is_writeup(path):
            try:
                _judge_writeup(path, args, written, results)
            except (AnswersFileError, WriteupError, KeyError) as exc:
                message = str(exc).strip("'\"")
                errors.append({"path": path, "message": message})
                print(render_error(path, message), file=sys.stderr)
            continue
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
        write_json(args.json, results, errors, written)
    return 1 if errors else 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main(sys.argv[1:]))

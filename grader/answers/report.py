"""Terminal table and JSON document for judged answer sets."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from .answerset import AnswerSetResult
from .check import Verdict
from .writeup.records import WrittenVerdict

__all__ = ["render_result", "render_error", "render_written", "write_json", "json_document"]

_MARK = {"correct": "correct", "partial": "partial", "incorrect": "INCORRECT",
         "unparseable": "UNREADABLE", "missing": "missing", "error": "ERROR", "review": "REVIEW"}


def _convention_cell(v: Verdict) -> str:
    if v.convention_label is None:
        return ""
    if v.status in ("correct", "partial"):
        return v.convention_label
    return f"closest: {v.convention_label}"


def _indent(text: str, prefix: str, width: int = 100) -> list[str]:
    out: list[str] = []
    for line in text.splitlines() or [""]:
        wrapped = textwrap.wrap(line, width - len(prefix), break_long_words=False,
                                replace_whitespace=False, subsequent_indent="  ") or [""]
        out.extend(prefix + w for w in wrapped)
    return out


def render_result(result: AnswerSetResult) -> str:
    """A per-answer verdict table with the student's reading, the expectation and hints."""
    head = [result.source]
    about = f"  {result.model}"
    if result.question:
        about += f" · question {result.question}"
    if result.asks:
        about += f" · {result.asks}"
    if result.student:
        about += f" · student {result.student}"
    head.append(about)
    key_w = max([len("answer")] + [len(v.key) for v in result.verdicts])
    lines = head + [f"  {'answer':<{key_w}}  {'verdict':<10}  convention"]
    for v in result.verdicts:
        lines.append(f"  {v.key:<{key_w}}  {_MARK.get(v.status, v.status):<10}  "
                     f"{_convention_cell(v)}".rstrip())
        pad = " " * (key_w + 6)
        if v.parsed and v.status != "correct":
            lines.extend(_indent(f"read as   {v.parsed}", pad))
        elif v.parsed:
            lines.extend(_indent(f"{v.parsed}", pad))
        if v.expected and v.status != "correct":
            lines.extend(_indent(f"expected  {v.expected}", pad))
        for hint in v.hints:
            if "\n" in hint:  # a parse error with its caret line
                first, rest = hint.split("\n", 1)
                lines.extend(_indent(f"- {first}", pad))
                lines.extend(pad + "    " + r for r in rest.splitlines())
            else:
                lines.extend(_indent(f"- {hint}", pad))
    for problem in result.problems:
        lines.append(f"  note: {problem}")
    summary = result.summary()
    order = ["correct", "partial", "incorrect", "unparseable", "missing", "error", "review"]
    lines.append("  " + ", ".join(f"{summary[s]} {s}" for s in order if s in summary))
    return "\n".join(lines)


def render_written(verdict: WrittenVerdict) -> str:
    """A write-up question: the answers table (when its heading was found), where it was found,
    what a TA must read, and the grade line the student sees."""
    lines = []
    if verdict.result is not None:
        lines.append(render_result(verdict.result))
    else:
        lines.append(f"{verdict.details['source']}\n  question {verdict.question}")
    headings = verdict.details.get("headings") or []
    if headings:
        lines.append("  found under the heading at " + "; ".join(headings))
    for item in verdict.details.get("review", []):
        if item["key"] is None:
            lines.append(f"  REVIEW: {item['reason']}")
            lines.extend(_indent(item["excerpt"], "      ") if item["excerpt"] else [])
        elif item["excerpt"]:
            lines.append(f"  text found for {item['key']} ({item['where']}):")
            lines.extend(_indent(item["excerpt"], "      "))
    lines.append(f"  => {verdict.status} {verdict.fraction:.2f}: {verdict.message}")
    return "\n".join(lines)


def render_error(path: str, message: str) -> str:
    return f"{path}\n  ERROR: {message}"


def json_document(results: list[AnswerSetResult], errors: list[dict[str, str]],
                  written: list[WrittenVerdict] | None = None) -> dict[str, Any]:
    totals: dict[str, int] = {}
    for r in results:
        for status, n in r.summary().items():
            totals[status] = totals.get(status, 0) + n
    return {
        "kind": "pa2-grader/answers",
        "version": 1,
        "summary": totals,
        "sets": [r.to_dict() for r in results],
        "errors": errors,
        "writeups": [v.to_dict() for v in written or []],
    }


def write_json(path: str | Path, results: list[AnswerSetResult],
               errors: list[dict[str, str]], written: list[WrittenVerdict] | None = None
               ) -> None:
    Path(path).write_text(json.dumps(json_document(results, errors, written), indent=2,
                                     ensure_ascii=False) + "\n", encoding="utf-8")

"""The compact summary `grader check` prints: a per-question table with a reason per check.

It is built from the same filtered view as the HTML report, so hidden checks are treated the
same way (a student never sees a hidden check's message here either). Colour is used only when
asked for; `wants_colour(stream)` gives the usual answer for a terminal.
"""

from __future__ import annotations

import os
import textwrap
from typing import IO

from grader.reports.view import ADJUSTMENT_LABEL, fmt_points, fmt_signed_points, student_view
from grader.result import Result

WIDTH = 100
_SGR = {"pass": "32", "partial": "33", "fail": "31", "error": "31;1", "skip": "2",
        "internal": "35", "review": "33", "bold": "1", "dim": "2"}
_ICON = {"pass": "✓", "partial": "◐", "fail": "✗", "error": "!", "skip": "–", "internal": "?",
         "review": "⏸"}


def wants_colour(stream: IO[str]) -> bool:
    """Colour for an interactive terminal, unless NO_COLOR is set (https://no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def format_terminal_summary(result: Result, *, colour: bool = False, audience: str = "student",
                            width: int = WIDTH, report_path: str | None = None) -> str:
    """Plain text (ANSI-coloured when `colour`) summary of one result."""

    def paint(text: str, style: str) -> str:
        return f"\x1b[{_SGR[style]}m{text}\x1b[0m" if colour and style in _SGR else text

    page = student_view(result, audience)
    lines: list[str] = []
    title = page["rubric"]["title"] or page["rubric"]["id"] or "grading report"
    lines.append(paint(f"{page['student']} · {title}", "bold"))
    mode = f" · {page['checks_mode']} checks" if page["checks_mode"] else ""
    if page["complete"] or not page["assessed_max_score"]:
        score = f"{fmt_points(page['score'])} / {fmt_points(page['out_of'])}"
        lines.append(f"score {paint(score, 'bold')} ({100 * page['fraction']:.0f} %){mode}")
    else:
        score = f"{fmt_points(page['score'])} / {fmt_points(page['assessed_max_score'])}"
        lines.append(f"score {paint(score, 'bold')} of the points assessed in this run "
                     f"({100 * page['fraction']:.0f} %){mode}; the rubric has "
                     f"{fmt_points(page['max_score'])}")
        missing = [str(q["id"]) for q in page["questions"]
                   if not q["assessed"] and not q["in_review"]]
        if missing:
            lines.append(paint("not assessed in this run: " + ", ".join(missing), "dim"))
    for adjustment in page["adjustments"]:
        label = ADJUSTMENT_LABEL.get(adjustment["kind"], adjustment["kind"])
        lines.extend(_wrap(f"{label} {fmt_signed_points(adjustment['points'])}: "
                           f"{adjustment['reason']}", "", width))
    if page["adjustments"]:
        lines.append(f"final {paint(fmt_points(page['final_score']), 'bold')}")
    if page["status"] == "error":
        err = page["error"]
        lines.append("")
        lines.append(paint(f"NOT GRADED: {page['error_label']}", "error"))
        if err:
            lines.extend(_wrap(err["message"] + (f" ({err['where']})" if err["where"] else ""),
                               "  ", width))
    elif page["grader_fault"]:
        lines.append("")
        lines.append(paint("GRADER PROBLEM: not your fault", "error"))
        err = page["error"]
        part = "part of " if page["assessed_max_score"] else ""
        if audience == "ta" and err:
            lines.extend(_wrap(err["message"], "  ", width))
        else:
            lines.append(f"  The grader failed on {part}this submission; course staff will "
                         "review it.")

    name_w = max([18] + [len(str(q["id"])) + 2 + len(q["title"]) for q in page["questions"]])
    name_w = min(name_w, 48)
    for q in page["questions"]:
        lines.append("")
        head = f"{q['id']}  {q['title']}"
        if q["complete"]:
            pts = f"{fmt_points(q['score'])} / {fmt_points(q['max_score'])}"
        elif q["assessed"]:
            pts = (f"{fmt_points(q['score'])} / {fmt_points(q['assessed_max_score'])} "
                   f"(of {fmt_points(q['max_score'])})")
        elif q["in_review"]:
            pts = f"TA review (of {fmt_points(q['max_score'])})"
        else:
            pts = f"not assessed (of {fmt_points(q['max_score'])})"
        lines.append(paint(f"{head[:name_w]:<{name_w}}", "bold") + f"  {pts:>22}")
        previous = None
        for c in q["checks"]:
            icon = paint(_ICON[c["css"]], c["css"])
            label = paint(f"{c['label']:<16}", c["css"])
            cpts = f"{fmt_points(c['score'], 3)}/{fmt_points(c['max_score'], 3)}"
            tag = f" [{c['tag']}]" if c["tag"] else ""
            title = textwrap.wrap(f"{c['title']}{tag}", width=max(30, width - 34),
                                  break_long_words=False) or [""]
            lines.append(f"  {icon} {label} {cpts:>11}  {title[0]}")
            lines.extend(" " * 34 + more for more in title[1:])
            if c["level"] != "full":
                continue  # a verdict-only hidden check shows no reason
            if c["status_key"] == "passed":   # a pass needs no reason, but its notes are news
                for note in c["details"].get("notes") or ():
                    lines.extend(_wrap(f"note: {note}", "      ", width))
                continue
            reason = c["message"] or (c["meaning"] if c["status_key"] in (
                "internal", "skipped", "review") else None)
            if reason and reason == previous:
                lines.append(paint("      (the same failure as above)", "dim"))
            elif reason:
                lines.extend(_wrap(reason, "      ", width))
            previous = reason
        if q["undisclosed"]:
            lines.append(paint(f"      + {q['undisclosed']} hidden check(s), counted in the "
                               "total above", "dim"))

    if page["problems"]:
        lines.append("")
        lines.append(paint("Problems in your code", "bold"))
        for p in page["problems"]:
            where = p["where"]
            lines.append(paint(f"  {p['label']}" + (f" at {where}" if where else ""), "error"))
            lines.extend(_wrap(p["message"], "    ", width))
            for tb in p["traceback"]:
                lines.append(paint(f"    | {tb}", "dim"))
    if page["neutralised"]:
        lines.append("")
        lines.append(paint("Lines not run by the grader", "bold"))
        for n in page["neutralised"]:
            lines.append(f"  {n['where'] or '?'}: {n.get('what', '')}")
    if report_path:
        lines.append("")
        lines.append(f"Full report: {report_path}")
    return "\n".join(lines) + "\n"


def _wrap(text: str, indent: str, width: int) -> list[str]:
    out: list[str] = []
    for para in str(text).splitlines() or [""]:
        out.extend(textwrap.wrap(para, width=width, initial_indent=indent,
                                 subsequent_indent=indent, break_long_words=False,
                                 break_on_hyphens=False) or [indent])
    return out

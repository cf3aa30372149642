"""A report page written without templates, for a result the normal renderer failed on.

It must not fail itself: plain string formatting, every value escaped, no artifacts, nothing a
result could hold that a `str()` cannot show. The student sees their scores and that course staff
were told; the TA's copy adds the grader's own error and traceback.
"""

from __future__ import annotations

from html import escape

from grader.result import Result


def plain_report(result: Result, audience: str = "student") -> str:
    """A self-contained HTML page for `result` (`audience` "student" or "ta")."""
    rows = []
    for q in result.questions:
        shown = (f"{q.score:.2f} / {q.max_score:.2f}" if q.assessed
                 else f"not assessed in this run (out of {q.max_score:.2f})")
        rows.append(f"<tr><td>{escape(q.id)}</td><td>{escape(q.title)}</td>"
                    f"<td>{escape(shown)}</td></tr>")
    parts = [
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>{escape(result.student)}: grading report</title></head><body>",
        f"<h1>{escape(result.rubric.title or result.rubric.id)}</h1>",
        f"<p>Student: <strong>{escape(result.student)}</strong></p>",
        "<p>The grader could not produce your full report. Course staff have been told and "
        "will review your submission; this is not your fault.</p>",
    ]
    if rows:
        parts.append("<table><thead><tr><th>Question</th><th>Title</th><th>Points</th></tr>"
                     "</thead><tbody>" + "".join(rows) + "</tbody></table>")
    if audience == "ta" and result.error is not None:
        parts.append(f"<h2>Grader failure (staff only)</h2><p>{escape(result.error.message)}"
                     "</p><pre>" + escape("\n".join(result.error.traceback)) + "</pre>")
    parts.append("</body></html>\n")
    return "\n".join(parts)

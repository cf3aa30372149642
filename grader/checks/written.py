"""A written question answered in the write-up: the counting question (weights, outputs and
connections as formulas, then for a doubled input) or the padding question (padding and
output_padding for other kernel sizes).

The answers are found under the question's heading in the write-up as handed in (a PDF with a
text layer, converted Markdown or LaTeX, the notebook's own Markdown cells; the `writeup` stage
finds them, `grader.answers.writeup` reads and judges them against counts taken from the
reference models). Credit is the share of the asked answers that are right under a convention
the course accepts; an answer that cannot be read goes to a TA with the text found, never
guessed; a run with no write-up leaves the question unassessed, not zero.
"""

from __future__ import annotations

from typing import Any

from grader.checks.registry import Param, Verdict, check

VIEW = """{% if d.answers %}
<h4>Answers read from {{ d.source or "the write-up" }}</h4>
<div class="scroll"><table>
  <thead><tr><th>asked</th><th>as written</th><th>where</th><th>verdict</th>
  {% if page.audience == "ta" %}<th>expected</th>{% endif %}</tr></thead>
  <tbody>{% for a in d.answers %}<tr>
    <td>{{ a.key }}</td><td class="mono">{{ a.written or a.answer or "—" }}</td>
    <td>{{ a.where or "—" }}</td>
    <td>{{ a.status }}{% if a.convention_label %}
      <span class="note">({{ a.convention_label }})</span>{% endif %}</td>
    {% if page.audience == "ta" %}
    <td class="mono">{{ a.expected if a.expected is not none else "—" }}</td>{% endif %}
  </tr>{% endfor %}</tbody>
</table></div>
{% endif %}
{% if d.review %}
<h4>For a TA to read</h4>
<ul>{% for r in d.review %}<li>{{ r.key or "the question" }}: {{ r.reason }}
  {% if r.excerpt %} — <span class="mono">{{ r.excerpt }}</span>{% endif %}
  {% if r.where %} ({{ r.where }}){% endif %}</li>{% endfor %}</ul>
{% endif %}
"""

DETAILS = ('`{"source": the write-up read, "question": e.g. "2023/4.3", "answers": [{"key", '
           '"status", "written", "where", "convention", "expected" (staff only), ...}], '
           '"review": [{"key", "reason", "excerpt", "where"}], "conventions", '
           '"provisional_fraction"}`')


@check("written", stage="writeup", view=VIEW, details=DETAILS,
       title="Written answer in the write-up",
       explains="Your answer to this question as read from your write-up, judged against the "
                "counts of the handout's model under each convention the course accepts.",
       params={"question": Param((str,), required=True,
                                 doc="the written question, as `grader answers` names it "
                                     "(2023/4.3, 2023/5.4, 2020/A.3, 2022/A.3, 2022/B.4)")})
def written(measured: dict, expected: dict, params: dict) -> Verdict:
    """The answers under the question's heading in the write-up are right."""
    if measured.get("skipped"):
        return Verdict.skipped(measured["skipped"])
    if measured.get("internal"):
        return Verdict.internal(measured["internal"])
    if measured.get("review"):
        return Verdict.review(measured["review"], source=measured.get("source"),
                              review=[{"key": None, "reason": measured["review"]}])
    verdict: dict[str, Any] = measured.get("verdict") or {}
    if not verdict:
        return Verdict.internal("the write-up stage did not run for this question")
    details = {**verdict.get("details", {}), "source": measured.get("source")}
    status, fraction = verdict["status"], float(verdict["fraction"])
    if status == "review":
        why = "; ".join(r.get("reason", "") for r in details.get("review") or ()) or \
            "an answer could not be read automatically"
        message = verdict["message"]
        return Verdict.review(message if why in message else f"{message} ({why})", **details)
    if status == "passed":
        return Verdict.passed(verdict["message"], **details)
    return Verdict.failed(verdict["message"], fraction=fraction, **details)

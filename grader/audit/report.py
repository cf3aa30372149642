"""The audit's outputs: a terminal table, a self-contained HTML page and a JSON record.

The page reuses the report stage's jinja2 environment (filters, autoescaping, shared CSS, the
base layout and macros) through an overlay that adds this folder's templates; nothing in
`grader/reports` is changed and the page needs no network (inline CSS, no script).
"""

from __future__ import annotations

import json
import textwrap
from functools import lru_cache
from pathlib import Path

import jinja2

from grader.audit.run import VERDICTS, AuditReport, MutantResult
from grader.reports import render

TEMPLATES = Path(__file__).with_name("templates")

# verdict -> css class of the shared stylesheet
CSS = {"caught": "pass", "kept": "pass", "not assessed": "skip", "missed": "fail",
       "penalised": "fail", "grader failure": "internal"}
ICON = {"caught": "✓", "kept": "✓", "not assessed": "–", "missed": "✗", "penalised": "✗",
        "grader failure": "?"}


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    base = render.environment()
    return base.overlay(loader=jinja2.ChoiceLoader([
        jinja2.FileSystemLoader(str(TEMPLATES)), base.loader]))


def _lost_text(r: MutantResult) -> str:
    lost = r.lost_checks
    if not lost:
        return "-"
    return ", ".join(f"{c.label} (-{c.lost:.3g})" for c in lost)


def format_table(report: AuditReport, width: int = 120) -> str:
    """One line per mutant, grouped by target, then the summary and what went wrong."""
    lines = [f"audit of {report.rubric_id} ({report.checks_mode} checks): "
             f"{len(report.results)} mutants, reference {report.baseline_score:.3f} / "
             f"{report.baseline_assessed_max:.3f} assessed"]
    for problem in report.baseline_problems:
        lines.append(f"  BASELINE NOT FULL MARKS: {problem}")
    id_w = max([6] + [len(r.mutant.id) for r in report.results])
    head = (f"{'':2}{'mutant':<{id_w}}  {'eq':<2}  {'verdict':<14}  {'score':>6}  "
            "checks that lost points")
    lines += ["", head, "-" * min(width, max(len(head), 60))]
    target = None
    for r in report.results:
        if r.mutant.target != target:
            target = r.mutant.target
            lines.append(f"[{target}]")
        eq = "=" if r.mutant.equivalent else ""
        prefix = (f"{ICON[r.verdict]:2}{r.mutant.id:<{id_w}}  {eq:<2}"
                  f"  {r.verdict:<14}  {r.score:>6.3f}  ")
        body = textwrap.wrap(_lost_text(r) + (f"  [{r.note}]" if r.note else ""),
                             width=max(30, width - len(prefix)), break_long_words=False) or [""]
        lines.append(prefix + body[0])
        lines.extend(" " * len(prefix) + more for more in body[1:])
    s = report.summary()
    lines += ["", f"bugs: {s['caught']} / {s['bugs']} caught"
                  + (f", {s['missed']} MISSED" if s["missed"] else "")
                  + (f", {s['not_assessed']} not assessed in this mode"
                     if s["not_assessed"] else "")
                  + f"; equivalents: {s['kept']} / {s['equivalents']} kept full marks"
                  + (f", {s['penalised']} PENALISED" if s["penalised"] else "")
                  + (f"; {s['grader_failures']} GRADER FAILURES" if s["grader_failures"] else "")
                  + f"; {report.wall_s:.1f} s"]
    for r in report.results:
        if not r.ok:
            lines.append(f"  {r.verdict.upper()}: {r.mutant.id} ({r.mutant.target}): "
                         f"{r.mutant.description}")
    lines.append(f"audit {'ok' if report.ok else 'FAILED'}")
    return "\n".join(lines)


def render_html(report: AuditReport) -> str:
    groups: dict[str, list[MutantResult]] = {}
    for r in report.results:
        groups.setdefault(r.mutant.target, []).append(r)
    by_check = report.catches_by_check()
    only = report.only_catcher()
    template = environment().get_template("audit.html.j2")
    return template.render(css=render.stylesheet(), csp=render.csp(), report=report,
                           summary=report.summary(), groups=groups, by_check=by_check,
                           only=only, verdicts=VERDICTS, css_of=CSS, icon_of=ICON,
                           failures=[r for r in report.results if not r.ok])


def write_html(report: AuditReport, path: Path) -> Path:
    return render.write_atomic(Path(path), render_html(report))


def write_json(report: AuditReport, path: Path) -> Path:
    return render.write_atomic(Path(path), json.dumps(report.to_dict(), indent=2,
                                                      ensure_ascii=False) + "\n")

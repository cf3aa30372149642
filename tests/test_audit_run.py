"""A few mutants graded end to end by the real pipeline: bugs are caught, a rewrite keeps marks.

One `Grader` (one warm sandbox) serves the whole module; the Fall 2024 rubric has the fewest
targets, so each grade is quick.
"""

from __future__ import annotations

import copy
import json
import re
from types import SimpleNamespace

import pytest
import torch

from grader.audit.cli import main as audit_main
from grader.audit.mutants import mutants_for
from grader.audit.report import format_table, render_html, write_html, write_json
from grader.audit.run import audit, judge
from grader.result import Result

RUBRIC = "csc413-f2024-a2"
CHOSEN = {
    "pool-hardcoded-nf": {"4.1/generalises_params"},          # only a hidden check sees it
    "ct-upsample-conv": {"5.1/architecture"},                 # same shapes and parameters
    "pool-eq-separate-attrs": set(),                           # equivalent: keeps full marks
}


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    from grader.pipeline import Grader

    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("audit")
    with Grader(RUBRIC, checks="static") as g:
        mutants = [m for m in mutants_for(g.rubric) if m.id in CHOSEN]
        seen: list[str] = []

        def grade(path, student):
            seen.append(student)
            return g.grade_path(path, student=student).result

        rep = audit(g.rubric, grade, mutants=mutants, out_dir=out)
    return SimpleNamespace(report=rep, seen=seen, out=out)


def test_reference_is_graded_first_and_gets_full_marks(audited):
    assert audited.seen[0] == "reference"
    assert sorted(audited.seen[1:]) == sorted(CHOSEN)
    report = audited.report
    assert report.baseline_ok, report.baseline_problems
    assert report.baseline_score == pytest.approx(report.baseline_assessed_max)
    assert report.baseline_assessed_max > 0


def test_bugs_are_caught_on_the_checks_that_should_see_them(audited):
    report = audited.report
    by_id = {r.mutant.id: r for r in report.results}
    for mid, must_lose in CHOSEN.items():
        r = by_id[mid]
        lost = {c.label for c in r.lost_checks}
        if r.mutant.equivalent:
            assert r.verdict == "kept", (mid, r.lost_checks)
            assert r.score == pytest.approx(report.baseline_score)
        else:
            assert r.verdict == "caught", (mid, r.note)
            assert must_lose <= lost, (mid, lost)
            assert r.score < report.baseline_score
            # a bug in one net costs nothing on the other net's question
            other = "5.1" if r.mutant.target == "PoolUpsampleNet" else "4.1"
            assert not any(label.startswith(other) for label in lost)
    assert report.ok


def test_mutated_notebooks_are_kept_and_outputs_are_self_contained(audited, tmp_path):
    report = audited.report
    for mid in CHOSEN:
        nb = json.loads((audited.out / "mutants" / f"{mid}.ipynb").read_text(encoding="utf-8"))
        assert nb["nbformat"] == 4
    page = render_html(report)
    assert "ct-upsample-conv" in page and "5.1/architecture" in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)   # nothing from a network
    assert "<script" not in page
    path = write_html(report, tmp_path / "audit.html")
    data = json.loads(write_json(report, tmp_path / "audit.json").read_text(encoding="utf-8"))
    assert path.stat().st_size > 1000
    assert data["summary"]["caught"] == 2 and data["summary"]["kept"] == 1
    table = format_table(report)
    assert "audit ok" in table and "pool-hardcoded-nf" in table


def test_verdicts_for_failures_derived_from_the_real_baseline(audited):
    """An uncaught bug, a penalised rewrite and a grader failure each fail the audit."""
    report = audited.report
    by_id = {r.mutant.id: r for r in report.results}
    bug = by_id["pool-hardcoded-nf"].mutant
    eq = by_id["pool-eq-separate-attrs"].mutant
    # rebuild the baseline result from the per-check outcomes of the equivalent (full marks)
    kept = by_id["pool-eq-separate-attrs"]
    questions: dict[str, dict] = {}
    for c in kept.checks:
        q = questions.setdefault(c.question, {"id": c.question, "checks": []})
        q["checks"].append({"id": c.check, "kind": c.kind, "target": c.target,
                            "status": c.status, "score": c.score, "max_score": c.max_score,
                            "message": c.message})
    baseline = {"status": "graded", "score": kept.score,
                "assessed_max_score": kept.assessed_max, "questions": list(questions.values())}
    typed = Result.from_dict
    assert judge(bug, typed(baseline), typed(baseline)).verdict == "missed"
    assert not judge(bug, typed(baseline), typed(baseline)).ok
    worse = copy.deepcopy(baseline)
    worse["questions"][0]["checks"][0].update(status="failed", score=0.0)
    worse["score"] -= baseline["questions"][0]["checks"][0]["score"]
    assert judge(eq, typed(worse), typed(baseline)).verdict == "penalised"
    internal = copy.deepcopy(baseline)
    internal["questions"][0]["checks"][0].update(status="internal", score=0.0)
    assert judge(eq, typed(internal), typed(baseline)).verdict == "grader failure"
    assert judge(bug, typed(internal), typed(baseline)).verdict == "grader failure"
    crashed = {"status": "error", "error": {"kind": "syntax", "message": "bad"},
               "score": 0.0, "questions": []}
    assert judge(bug, typed(crashed), typed(baseline)).verdict == "caught"


def test_cli_lists_mutants_without_grading(capsys):
    assert audit_main(["--rubric", RUBRIC, "--list"]) == 0
    out = capsys.readouterr().out
    assert "ct-upsample-conv" in out and "pool-eq-functional" in out
    assert audit_main(["--rubric", "no-such-rubric", "--list"]) == 2

"""Gradescope results.json and Canvas gradebook CSV exports."""

from __future__ import annotations

import copy
import csv
import json

import pytest

from grader.reports import GRADESCOPE_SCHEMA, export_canvas, export_gradescope
from grader.reports.gradescope import (
    md_text,
    structural_errors,
    to_gradescope,
    validate_gradescope,
)
from grader.rubric.schema import GradescopeSettings
from tests import reports_factory as factory

# One Gradescope test per check, fully hidden ones included (tests/test_gradescope_bundle.py
# covers the default, which pools those into one visible test).
EACH_CHECK = GradescopeSettings(hide_total=True)

ALL = [factory.passing_result, factory.failing_result, factory.crashing_result,
       factory.corrupt_result, factory.internal_result, factory.grader_crash_result,
       factory.finetune_result]


@pytest.mark.parametrize("make", ALL, ids=lambda f: f.__name__)
def test_gradescope_export_is_valid_and_totals_match(make, tmp_path):
    result = make()
    doc = export_gradescope(factory.typed(result), tmp_path / "results.json", EACH_CHECK)
    assert json.loads((tmp_path / "results.json").read_text()) == doc
    assert validate_gradescope(doc) == []
    assert structural_errors(doc, GRADESCOPE_SCHEMA) == []
    assert doc["score"] == pytest.approx(result["score"])
    assert sum(t["score"] for t in doc["tests"]) == pytest.approx(result["score"], abs=1e-5)
    assert sum(t["max_score"] for t in doc["tests"]) == pytest.approx(result["max_score"])
    checks = [c for q in result["questions"] for c in q["checks"]]
    if checks:
        assert len(doc["tests"]) == len(checks)
        assert [t["status"] == "passed" for t in doc["tests"]] == [
            c["status"] == "passed" for c in checks]


def test_gradescope_visibility_follows_feedback():
    result = factory.failing_result()
    tests = {t["number"]: t for t in to_gradescope(factory.typed(result), EACH_CHECK)["tests"]}
    for q in result["questions"]:
        for i, c in enumerate(q["checks"], 1):
            t = tests[f"{q['id']}.{i}"]
            if c["visibility"] == "public":
                assert t["visibility"] == "visible" and md_text(c["message"]) in t["output"]
            elif c["feedback"] == "full":
                assert (t["visibility"] == "after_published"
                        and md_text(c["message"]) in t["output"])
            elif c["feedback"] == "verdict":
                assert t["visibility"] == "after_published"
                assert c["message"] not in t["output"]
            else:
                assert t["visibility"] == "hidden" and md_text(c["message"]) in t["output"]
    assert {t["visibility"] for t in tests.values()} == {"visible", "after_published", "hidden"}
    arch = tests["4.1.1"]
    assert arch["name"] == "4.1 PoolUpsampleNet: Layers match the handout (PoolUpsampleNet)"
    assert arch["tags"] == ["architecture", "PoolUpsampleNet"]


def test_gradescope_output_locates_student_failures():
    doc = to_gradescope(factory.typed(factory.crashing_result()))
    assert "Your code raised an exception at cell 12, line 27" in doc["output"]
    first = doc["tests"][0]
    assert "out2 = self.block2(out1_pooled)" in first["output"]
    assert doc["execution_time"] == round(factory.crashing_result()["timings"]["total_s"])
    corrupt = to_gradescope(factory.typed(factory.corrupt_result()))
    assert corrupt["tests"][0]["name"] == "Submission could not be graded"
    assert "not valid JSON" in corrupt["tests"][0]["output"]


BAD = {
    "visibility outside the allowed set": lambda d: d.update(visibility="public"),
    "test status outside passed/failed": lambda d: d["tests"][0].update(status="error"),
    "score as text": lambda d: d.update(score="1.5"),
    "unknown key": lambda d: d["tests"][0].update(maxscore=1),
    "tags not strings": lambda d: d["tests"][0].update(tags=[1]),
    "no score anywhere": lambda d: (d.pop("score"), d["tests"][0].pop("score")),
    "non-integer execution time": lambda d: d.update(execution_time=1.5),
}


@pytest.mark.parametrize("breakage", list(BAD), ids=list(BAD))
def test_gradescope_validation_rejects_malformed_documents(breakage):
    doc = copy.deepcopy(to_gradescope(factory.typed(factory.failing_result())))
    BAD[breakage](doc)
    assert validate_gradescope(doc), breakage
    assert structural_errors(doc, GRADESCOPE_SCHEMA), breakage


def test_gradescope_score_may_live_on_tests_only():
    doc = to_gradescope(factory.typed(factory.passing_result()))
    doc.pop("score")
    assert validate_gradescope(doc) == [] and structural_errors(doc, GRADESCOPE_SCHEMA) == []


def test_export_refuses_to_write_an_invalid_document(tmp_path, monkeypatch):
    import grader.reports.gradescope as gs

    monkeypatch.setattr(gs, "_test_visibility", lambda check: "students")
    with pytest.raises(ValueError, match="invalid Gradescope"):
        gs.export_gradescope(factory.typed(factory.passing_result()), tmp_path / "results.json")
    assert not (tmp_path / "results.json").exists()


# --------------------------------------------------------------------------- Canvas
def read_csv(path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_canvas_csv_layout_and_scaled_grades(tmp_path):
    results = [factory.failing_result(), factory.passing_result(), factory.corrupt_result()]
    path = tmp_path / "canvas.csv"
    export_canvas(factory.typed(results), path, assignment_name="PA2", points_possible=100,
                  assignment_id=48213)
    rows = read_csv(path)
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "PA2 (48213)"]
    assert rows[1][0] == "Points Possible" and float(rows[1][5]) == 100
    body = {r[0]: r for r in rows[2:]}
    assert [r[0] for r in rows[2:]] == ["alice", "bob", "dave"]
    assert float(body["alice"][5]) == 100.0
    bob = factory.failing_result()
    assert float(body["bob"][5]) == pytest.approx(round(bob["score"] / 3.0 * 100, 2))
    assert body["bob"][3] == "bob"           # our id as SIS Login ID without a roster
    assert body["dave"][5] == ""             # not graded: Canvas leaves the grade alone


def test_canvas_zero_errors_and_new_assignment_header(tmp_path):
    path = tmp_path / "canvas.csv"
    export_canvas(factory.typed([factory.corrupt_result()]), path,
                  assignment_name="PA2 (autograded)",
                  points_possible=3, zero_errors=True)
    rows = read_csv(path)
    assert rows[0][5] == "PA2 (autograded)" and rows[2][5] == "0.0"


def test_canvas_roster_maps_ids_and_reports_unmatched(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "Student,ID,SIS User ID,SIS Login ID,Section,PA1 (40001)\n"
        "    Points Possible,,,,,10\n"
        "\"Lee, Alice\",9001,1004455667,ALICE,LEC0101,9\n"
        "\"Brown, Bob\",9002,bob,brownb7,LEC0201,7\n"
        "\"Twin, One\",9003,1000000001,twin,LEC0101,5\n"
        "\"Twin, Two\",9004,1000000002,twin,LEC0101,6\n", encoding="utf-8")
    results = [factory.passing_result(), factory.failing_result(),
               factory.passing_result("twin"), factory.passing_result("zed")]
    frame = export_canvas(factory.typed(results), tmp_path / "c.csv", assignment_name="PA2",
                          points_possible=10, roster=roster)
    rows = {r[0]: r for r in read_csv(tmp_path / "c.csv")[2:]}
    assert rows["Lee, Alice"][:5] == ["Lee, Alice", "9001", "1004455667", "ALICE", "LEC0101"]
    assert rows["Brown, Bob"][1] == "9002"  # matched on SIS User ID
    assert rows["twin"][1] == ""            # ambiguous login: never guessed
    assert frame.attrs["unmatched"] == ["twin", "zed"]

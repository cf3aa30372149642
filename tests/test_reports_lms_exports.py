"""LMS exports read back as the LMS reads them: MarkUs, PrairieLearn, Canvas, and the one rule
they share for leaving a grade blank."""

from __future__ import annotations

import copy
import csv
import dataclasses
import json
import subprocess
import sys

import pandas as pd
import pytest

from grader.reports.canvas import export_canvas
from grader.reports.exports import ExportContext, exporters
from grader.reports.markus import (
    MarkusOptionError,
    export_markus,
    item_name,
    markus_format,
    read_criteria,
)
from grader.reports.prairielearn import (
    CUT_NOTE,
    LIMIT_BYTES,
    POOLED_NAME,
    PRAIRIELEARN_SCHEMA,
    SHORTENED,
    export_prairielearn,
    fit,
    to_prairielearn,
    validate_prairielearn,
)
from grader.reports.withheld import question_withheld, withheld
from grader.result import Adjustment, Origin, Result
from tests import reports_factory as factory

LATE = Adjustment(kind="late", points=-0.25, reason="submitted 1 d 2 h late (2 days started) "
                  "after the deadline 2023-03-10T17:00-05:00: 2 days × 10 % of the points earned")


def late(result: Result, adjustment: Adjustment = LATE) -> Result:
    return dataclasses.replace(result, adjustments=[adjustment])


def from_canvas(result: Result, user_id: str, name: str) -> Result:
    """The result as read from a Canvas download: the Canvas user id is the student id."""
    origin = Origin(layout="canvas", name=name, lms_id="678901", lms_late=False)
    submission = dataclasses.replace(result.submission, origin=origin)
    return dataclasses.replace(result, student=user_id, submission=submission)


def cast() -> dict[str, Result]:
    """One result of every kind the exports must tell apart, by student."""
    results = factory.typed([
        factory.passing_result(), factory.failing_result(), factory.crashing_result(),
        factory.corrupt_result(), factory.internal_result(), factory.grader_crash_result(),
        factory.review_result(), factory.passing_result("ivy", mode="static")])
    by_student = {r.student: r for r in results}
    by_student["bob"] = late(by_student["bob"])
    return by_student


def read_rows(path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


# --------------------------------------------------------------------------- the shared rule
def test_withheld_names_every_misleading_grade_and_nothing_else():
    results = cast()
    kinds = {s: (w.kind if (w := withheld(r)) else None) for s, r in results.items()}
    assert kinds == {"alice": None, "bob": None, "carol": None, "dave": "error",
                     "erin": "internal", "frank": "internal", "hana": "review",
                     "ivy": "incomplete"}
    assert withheld(results["dave"], zero_errors=True) is None      # 0 is then the grade
    assert withheld(results["erin"], zero_errors=True).kind == "internal"
    assert "6.2" in withheld(results["hana"]).reason
    # Per question, a static run keeps the questions it assessed; a review blanks only its own.
    ivy, hana = results["ivy"], results["hana"]
    assert question_withheld(ivy, ivy.question("4.1")) is None
    assert question_withheld(ivy, ivy.question("4.2")).kind == "incomplete"
    assert question_withheld(hana, hana.question("6.1")) is None
    assert question_withheld(hana, hana.question("6.2")).kind == "review"
    assert question_withheld(results["erin"], results["erin"].question("4.1")).kind == "internal"
    assert question_withheld(results["dave"], None).kind == "error"
    assert question_withheld(results["dave"], None, zero_errors=True) is None


def test_every_export_leaves_the_same_students_unscored(tmp_path):
    results = list(cast().values())
    canvas = export_canvas(results, tmp_path / "canvas.csv", assignment_name="PA2",
                           points_possible=3.0)
    markus = export_markus(results, tmp_path / "markus.csv", item="PA2", max_score=3.0)
    ungradable = {r.student for r in results if not to_prairielearn(r)["gradable"]}
    assert set(canvas.attrs["blank"]) == set(markus.blank) == ungradable == {
        "dave", "erin", "frank", "hana", "ivy"}


# --------------------------------------------------------------------------- MarkUs
def markus_spreadsheet_import(rows: list[list[str]]) -> dict[str, dict[str, float | None]]:
    """What MarkUs's marks-spreadsheet upload makes of a file (GradeEntryForm#from_csv): an
    item is a column whose second-row cell is a number >= 0; row[0] is the user_name; a grade
    is a float >= 0, anything else is no grade."""
    def number(cell: str) -> float | None:
        try:
            value = float(cell)
        except ValueError:
            return None
        return value if value >= 0 else None

    names, totals = rows[0], [number(c) for c in rows[1]]
    items = [i for i, t in enumerate(totals) if t is not None]
    return {row[0]: {names[i]: number(row[i]) for i in items} for row in rows[2:] if any(row)}


MARKUS_IGNORED = {"Group name", "Total Mark", "Bonus/Deductions", "User Name", "Section",
                  "Last Name", "First Name", "ID number", "Email"}


def markus_criteria_import(rows: list[list[str]], criteria: dict[str, float]
                           ) -> dict[str, dict[str, float | None]]:
    """What MarkUs's assignment marks upload makes of a file (Assignment#import_marks_from_csv):
    the upload aborts on a header that is neither a criterion nor ignored; rows are keyed on
    `Group name` and skipped when it is blank; a mark must be 0 <= mark <= the criterion's
    maximum (else the row is rejected); blank is nil."""
    header = rows[0]
    unknown = [h for h in header if h and h not in criteria and h not in MARKUS_IGNORED]
    if unknown:
        raise AssertionError(f"MarkUs would abort the upload: criteria not found {unknown}")
    group = header.index("Group name") if "Group name" in header else 0
    columns = [(i, h) for i, h in enumerate(header) if h in criteria]
    out: dict[str, dict[str, float | None]] = {}
    for row in rows[1:]:
        if not row or not row[group].strip():
            continue
        marks: dict[str, float | None] = {}
        for i, name in columns:
            mark = float(row[i]) if row[i].strip() else None
            assert mark is None or 0 <= mark <= criteria[name], (row, name)
            marks[name] = mark
        out[row[group]] = marks
    return out


def test_markus_spreadsheet_layout_final_grades_and_blanks(tmp_path):
    results = cast()
    path = tmp_path / "markus.csv"
    export = export_markus(list(results.values()), path, item="PA2", max_score=3.0)
    rows = read_rows(path)
    assert rows[0] == ["User name", "PA2"]
    assert rows[1] == ["Out Of", "3"]
    assert [r[0] for r in rows[2:]] == sorted(results)       # user_name first, every student
    imported = markus_spreadsheet_import(rows)
    assert set(imported) == set(results)
    assert imported["alice"] == {"PA2": 3.0}
    bob = results["bob"]
    assert bob.final_score == pytest.approx(bob.score - 0.25)
    assert imported["bob"]["PA2"] == pytest.approx(bob.final_score, abs=1e-4)   # not `score`
    assert imported["carol"]["PA2"] == 0.0                   # graded: a real zero
    for student in ("dave", "erin", "frank", "hana", "ivy"):
        assert imported[student]["PA2"] is None, student     # blank: no grade, never 0
        assert student in export.blank
    frame = pd.read_csv(path, skiprows=[1])
    assert list(frame.columns) == ["User name", "PA2"] and frame["PA2"].dtype == float


def test_markus_spreadsheet_zero_errors_and_item_names(tmp_path):
    path = tmp_path / "markus.csv"
    export_markus(factory.typed([factory.corrupt_result(), factory.internal_result()]), path,
                  item="Programming Assignment 2", max_score=3.0, zero_errors=True)
    imported = markus_spreadsheet_import(read_rows(path))
    assert imported == {"dave": {"Programming Assignment 2": 0.0},
                        "erin": {"Programming Assignment 2": None}}
    with pytest.raises(ValueError, match="Total"):
        export_markus([], path, item="Total", max_score=3.0)
    with pytest.raises(MarkusOptionError):
        item_name("  ")
    with pytest.raises(ValueError, match="spreadsheet or criteria"):
        markus_format("gradebook")
    assert markus_format(" Criteria ") == "criteria"


def test_markus_criteria_layout_question_marks_and_late_penalty(tmp_path):
    results = cast()
    path = tmp_path / "markus.csv"
    export = export_markus(list(results.values()), path, format="criteria", item="PA2",
                           max_score=3.0)
    rows = read_rows(path)
    qids = ["4.1", "4.2", "5.1", "5.2", "6.1", "6.2"]
    assert rows[0] == ["Group name", "User Name", "Total Mark", *qids, "Bonus/Deductions"]
    assert rows[1][:3] == ["", "Out Of", "3"] and rows[1][-1] == ""
    assert [float(x) for x in rows[1][3:-1]] == [0.5] * 6
    imported = markus_criteria_import(rows, dict.fromkeys(qids, 0.5))
    assert set(imported) == set(results)                    # the out-of row is skipped
    bob = results["bob"]
    for q in bob.questions:                                 # what the checks earned
        assert imported["bob"][q.id] == pytest.approx(q.score, abs=1e-4)
    body = {r[0]: r for r in rows[2:]}
    assert float(body["bob"][-1]) == -0.25 and export.not_imported == {"bob": -0.25}
    assert float(body["bob"][2]) == pytest.approx(bob.score, abs=1e-3)
    # A static run: the questions it assessed keep their marks, the others are blank.
    assert imported["ivy"] == {"4.1": 0.5, "4.2": None, "5.1": 0.5, "5.2": None, "6.1": 0.5,
                               "6.2": None}
    assert body["ivy"][2] == ""                             # no total for a partial row
    # A review blanks its own question only; failures and unreadable rows blank everything.
    assert imported["hana"]["6.2"] is None and imported["hana"]["6.1"] == 0.5
    for student in ("dave", "erin", "frank"):
        assert set(imported[student].values()) == {None}, student
    assert imported["carol"] == dict.fromkeys(qids, 0.0)


def test_markus_criteria_mapping_renames_rescales_and_omits(tmp_path):
    mapping = tmp_path / "criteria.csv"
    mapping.write_text("question,criterion,out_of\n"
                       "4.1,PoolUpsampleNet architecture,5\n"
                       "5.1,ConvTransposeNet architecture,\n"
                       "9.9,Not in this rubric,1\n", encoding="utf-8")
    criteria = read_criteria(mapping)
    results = [cast()["alice"], cast()["bob"]]
    path = tmp_path / "markus.csv"
    export_markus(results, path, format="criteria", item="PA2", max_score=3.0,
                  criteria=criteria)
    rows = read_rows(path)
    assert rows[0] == ["Group name", "User Name", "Total Mark", "PoolUpsampleNet architecture",
                       "ConvTransposeNet architecture", "Bonus/Deductions"]
    assert rows[1][3:5] == ["5", "0.5"]
    imported = markus_criteria_import(rows, {"PoolUpsampleNet architecture": 5.0,
                                             "ConvTransposeNet architecture": 0.5})
    bob = results[1]
    assert imported["bob"]["PoolUpsampleNet architecture"] == pytest.approx(
        bob.question("4.1").score / 0.5 * 5, abs=1e-4)
    assert imported["alice"] == {"PoolUpsampleNet architecture": 5.0,
                                 "ConvTransposeNet architecture": 0.5}
    # Through the registry, with the option as the command line passes it.
    context = ExportContext(tmp_path, "PA2", 3.0, {"markus_format": "criteria",
                                                   "markus_criteria": str(mapping)})
    written = exporters()["markus"].write(results, context)
    assert written == tmp_path / "markus.csv" and read_rows(written) == rows


BAD_MAPPINGS = {
    "no criterion column": "question,name\n4.1,A\n",
    "a header MarkUs ignores": "question,criterion\n4.1,Total Mark\n",
    "a question twice": "question,criterion\n4.1,A\n4.1,B\n",
    "a criterion twice": "question,criterion\n4.1,A\n4.2,A\n",
    "out_of not a number": "question,criterion,out_of\n4.1,A,five\n",
    "out_of zero": "question,criterion,out_of\n4.1,A,0\n",
}


@pytest.mark.parametrize("text", list(BAD_MAPPINGS.values()), ids=list(BAD_MAPPINGS))
def test_markus_criteria_mapping_errors_are_reported(tmp_path, text):
    path = tmp_path / "criteria.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(MarkusOptionError):
        read_criteria(path)
    with pytest.raises(ValueError):
        read_criteria(tmp_path / "missing.csv")


# --------------------------------------------------------------------------- PrairieLearn
ALL = [factory.passing_result, factory.failing_result, factory.crashing_result,
       factory.corrupt_result, factory.internal_result, factory.grader_crash_result,
       factory.review_result, factory.finetune_result]


@pytest.mark.parametrize("make", ALL, ids=lambda f: f.__name__)
def test_prairielearn_results_are_valid_and_score_the_final_grade(make, tmp_path):
    result = late(factory.typed(make()))
    path = tmp_path / "prairielearn.json"
    doc = export_prairielearn(result, path)
    assert json.loads(path.read_text(encoding="utf-8")) == doc
    assert validate_prairielearn(doc) == []
    assert all({"name", "points", "max_points"} <= set(t) for t in doc["tests"])
    if withheld(result) is None:
        assert doc["gradable"] is True and 0.0 <= doc["score"] <= 1.0
        assert doc["score"] == pytest.approx(result.final_score / result.max_score, abs=1e-6)
        # The points PrairieLearn adds up are the final score, the penalty included.
        assert sum(t["points"] for t in doc["tests"]) == pytest.approx(result.final_score,
                                                                       abs=1e-4)
        assert sum(t["max_points"] for t in doc["tests"]) == pytest.approx(result.max_score)
    else:
        assert doc["gradable"] is False and "score" not in doc and doc["format_errors"]
    penalty = next(t for t in doc["tests"] if t["name"] == "Late penalty")
    assert penalty["points"] == pytest.approx(max(-0.25, -result.score))   # never below 0
    assert penalty["max_points"] == 0
    assert "Late penalty: -0.25 points: submitted 1 d 2 h late" in doc["message"]


def test_prairielearn_gradable_rules():
    results = cast()
    dave = to_prairielearn(results["dave"])
    assert dave["gradable"] is False
    assert dave["format_errors"][0].startswith("The submission could not be read: the "
                                               "notebook is not valid JSON")
    assert "submit again" in dave["format_errors"][-1]
    for student in ("erin", "frank"):     # the grader's fault: never an attempt charged
        doc = to_prairielearn(results[student])
        text = json.dumps(doc)
        assert doc["gradable"] is False and "not your fault" in doc["format_errors"][0]
        for staff_only in ("BrokenPipeError", "worker process died", "pixel_shuffle",
                           "grader/batch/local.py"):
            assert staff_only not in text, (student, staff_only)
    hana = to_prairielearn(results["hana"])
    assert hana["gradable"] is False and "6.2" in hana["format_errors"][0]
    review = next(t for t in hana["tests"] if t["name"].startswith("6.2"))
    assert review["points"] == 0 and review["max_points"] == 0
    ivy = to_prairielearn(results["ivy"])
    assert ivy["gradable"] is False and "4.2, 5.2, 6.2" in ivy["format_errors"][0]
    assert not any(t["name"].startswith("4.2") for t in ivy["tests"])   # not run: not listed
    carol = to_prairielearn(results["carol"])         # her code failed: graded, located
    assert carol["gradable"] is True and carol["score"] == 0.0
    assert "Your code raised an exception (cell 12, line 27)" in carol["output"]


def test_prairielearn_never_leaks_hidden_checks():
    record = factory.failing_result()
    for q in record["questions"]:       # a message no other check shares, to look for
        for c in q["checks"]:
            if c["visibility"] == "hidden":
                c["message"] = f"secret verdict of {q['id']} {c['id']}: {c['message']}"
    result = factory.typed(record)
    doc = to_prairielearn(result)
    text = json.dumps(doc, ensure_ascii=False)
    names = [t["name"] for t in doc["tests"]]
    pooled = [(q, c) for q in result.questions for c in q.checks
              if c.visibility == "hidden" and c.feedback == "none"]
    verdict = [(q, c) for q in result.questions for c in q.checks
               if c.visibility == "hidden" and c.feedback == "verdict"]
    full = [c for q in result.questions for c in q.checks
            if c.visibility == "hidden" and c.feedback == "full"]
    assert pooled and verdict and full
    for q, c in pooled:       # neither its message nor a test of its own
        assert c.message not in text
        assert not [n for n in names if n.startswith(q.id) and n.endswith(c.title)]
    other = next(t for t in doc["tests"] if t["name"] == POOLED_NAME)
    assert other["points"] == pytest.approx(sum(c.score for _, c in pooled))
    assert other["max_points"] == pytest.approx(sum(c.max_score for _, c in pooled))
    for q, c in verdict:
        test = next(t for t in doc["tests"] if t["name"].startswith(q.id)
                    and t["name"].endswith(c.title))
        assert c.message not in text and test["points"] == pytest.approx(c.score)
        assert "output" not in test
    assert all(c.message in text for c in full)
    assert len(names) == sum(len(q.checks) for q in result.questions) - len(pooled) + 1


def test_prairielearn_output_is_cut_to_one_megabyte(tmp_path):
    record = factory.crashing_result()
    check = record["questions"][0]["checks"][0]
    check["message"] = "RuntimeError: " + "é" * 700_000            # two bytes a character
    check["details"]["problem"]["traceback"] = [f"Cell 12, line {i}" for i in range(90_000)]
    result = factory.typed(record)
    whole = to_prairielearn(result)
    assert len(json.dumps(whole, ensure_ascii=False).encode()) > 2 * LIMIT_BYTES
    path = tmp_path / "prairielearn.json"
    doc = export_prairielearn(result, path)
    assert path.stat().st_size <= LIMIT_BYTES
    assert validate_prairielearn(doc) == []
    assert doc["message"].startswith(SHORTENED)
    first = doc["tests"][0]
    assert first["message"].startswith("RuntimeError: éé")
    assert "characters cut to keep results.json under" in first["message"]
    assert "characters cut" in first["output"]
    for cut, kept in zip(doc["tests"], whole["tests"], strict=True):
        assert [cut[k] for k in ("name", "points", "max_points")] == [
            kept[k] for k in ("name", "points", "max_points")]
        for key in ("message", "output"):               # short texts stay whole
            if len(kept.get(key, "")) < 10_000:
                assert cut.get(key) == kept.get(key)
            else:                                       # long ones keep a fair share
                assert len(cut[key]) > 10_000 and "characters cut" in cut[key]
    assert doc["score"] == whole["score"] and doc["gradable"] is True
    assert len(whole["tests"][0]["message"]) == len("RuntimeError: ") + 700_000   # a copy
    small = to_prairielearn(factory.typed(factory.passing_result()))
    assert fit(small) is small and CUT_NOTE.format(cut=1) not in json.dumps(small)


def test_prairielearn_cuts_a_huge_format_error_too(tmp_path):
    record = factory.corrupt_result()
    record["error"]["message"] = "the notebook is not valid JSON: " + "{" * (3 * LIMIT_BYTES)
    doc = export_prairielearn(factory.typed(record), tmp_path / "prairielearn.json")
    assert (tmp_path / "prairielearn.json").stat().st_size <= LIMIT_BYTES
    assert doc["gradable"] is False and validate_prairielearn(doc) == []
    assert doc["format_errors"][0].startswith("The submission could not be read: the notebook")
    assert "characters cut" in doc["format_errors"][0]
    assert doc["format_errors"][-1].endswith("submit again.")      # short: whole


BAD = {
    "score above 1": lambda d: d.update(score=1.5),
    "score below 0": lambda d: d.update(score=-0.1),
    "score as text": lambda d: d.update(score="0.5"),
    "gradable without a score": lambda d: d.pop("score"),
    "gradable as text": lambda d: d.update(gradable="false"),
    "test without max_points": lambda d: d["tests"][0].pop("max_points"),
    "negative max_points": lambda d: d["tests"][0].update(max_points=-1),
    "unknown key": lambda d: d.update(points=3),
    "format_errors not text": lambda d: d.update(format_errors=[1]),
    "over one megabyte": lambda d: d.update(output="x" * LIMIT_BYTES),
}


@pytest.mark.parametrize("without_jsonschema", [False, True], ids=["jsonschema", "fallback"])
@pytest.mark.parametrize("breakage", list(BAD), ids=list(BAD))
def test_prairielearn_validation_rejects_malformed_documents(breakage, without_jsonschema,
                                                             monkeypatch):
    if without_jsonschema:
        monkeypatch.setitem(sys.modules, "jsonschema", None)   # import raises ImportError
    doc = copy.deepcopy(to_prairielearn(factory.typed(factory.failing_result())))
    assert validate_prairielearn(doc) == []
    BAD[breakage](doc)
    assert validate_prairielearn(doc), breakage


def test_prairielearn_not_gradable_needs_no_score():
    doc = to_prairielearn(factory.typed(factory.corrupt_result()))
    assert "score" not in doc and validate_prairielearn(doc) == []
    assert PRAIRIELEARN_SCHEMA["properties"]["score"]["maximum"] == 1


def test_prairielearn_exporter_writes_one_file_per_student(tmp_path):
    export = exporters()["prairielearn"]
    assert export.scope == "student" and not export.always
    folder = tmp_path / "bob"
    folder.mkdir()
    path = export.write(cast()["bob"], folder, ExportContext(tmp_path, "PA2", 3.0))
    assert path == folder / "prairielearn.json"
    assert json.loads(path.read_text(encoding="utf-8"))["gradable"] is True


# --------------------------------------------------------------------------- Canvas
def test_canvas_uploads_the_final_score(tmp_path):
    results = cast()
    frame = export_canvas([results["bob"]], tmp_path / "c.csv", assignment_name="PA2",
                          points_possible=100)
    grade = float(read_rows(tmp_path / "c.csv")[2][5])
    assert grade == pytest.approx(round(results["bob"].final_score / 3.0 * 100, 2))
    assert grade < results["bob"].score / 3.0 * 100
    assert frame.attrs["blank"] == []


def test_canvas_download_ids_fill_the_id_column(tmp_path):
    alice = from_canvas(factory.typed(factory.passing_result()), "90017", "Lee, Alice")
    bob = factory.typed(factory.failing_result())
    export_canvas([alice, bob], tmp_path / "c.csv", assignment_name="PA2", points_possible=3)
    rows = {r[0]: r for r in read_rows(tmp_path / "c.csv")[2:]}
    assert rows["Lee, Alice"][:5] == ["Lee, Alice", "90017", "", "", ""]
    assert rows["bob"][:5] == ["bob", "", "", "bob", ""]     # a file-name id stays a login


def test_canvas_download_ids_match_the_roster_on_id_only(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "Student,ID,SIS User ID,SIS Login ID,Section\n"
        "    Points Possible,,,,\n"
        "\"Lee, Alice\",90017,1004455667,leealic1,LEC0101\n"
        "\"Brown, Bob\",90023,90017,brownb7,LEC0201\n"      # a SIS id equal to Alice's ID
        "\"Chen, Carol\",90031,1004455669,90040,LEC0101\n", encoding="utf-8")
    results = [from_canvas(factory.typed(factory.passing_result()), "90017", "Lee, Alice"),
               from_canvas(factory.typed(factory.failing_result()), "90040", "Chen, Carol"),
               factory.typed(factory.passing_result("brownb7"))]
    frame = export_canvas(results, tmp_path / "c.csv", assignment_name="PA2",
                          points_possible=3, roster=roster)
    rows = {r[0]: r for r in read_rows(tmp_path / "c.csv")[2:]}
    assert rows["Lee, Alice"][:5] == ["Lee, Alice", "90017", "1004455667", "leealic1",
                                      "LEC0101"]
    assert rows["Brown, Bob"][1] == "90023"                  # a file-name id: SIS Login ID
    # 90040 is nobody's Canvas ID: never matched through another column.
    assert rows["Chen, Carol"][:5] == ["Chen, Carol", "90040", "", "", ""]
    assert frame.attrs["unmatched"] == ["90040"]


# --------------------------------------------------------------------------- the command line
def test_grade_help_lists_the_lms_exporters_and_their_options():
    out = subprocess.run([sys.executable, "-m", "grader", "grade", "--help"],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    flat = " ".join(out.split())
    for text in ("markus: markus.csv for MarkUs", "prairielearn: <student>/prairielearn.json",
                 "canvas: canvas.csv", "--markus-format FORMAT", "--markus-item NAME",
                 "--markus-criteria CSV", "--canvas-roster CSV"):
        assert text in flat, text
    bad = subprocess.run([sys.executable, "-m", "grader", "grade", "x", "--rubric",
                          "csc413-2023-a2", "--markus-format", "pdf"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "choose spreadsheet or criteria" in bad.stderr

"""gradebook.csv: columns, rows and values a TA imports into a spreadsheet."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from grader.reports import write_gradebook
from tests import reports_factory as factory

QIDS = ["4.1", "4.2", "5.1", "5.2", "6.1", "6.2"]


@pytest.fixture(scope="module")
def cohort() -> list[dict]:
    results = factory.cohort(n=6)
    results.reverse()  # input order must not matter
    return results


def test_columns_rows_and_values(cohort, tmp_path):
    frame = write_gradebook(factory.typed(cohort), tmp_path / "gradebook.csv")
    assert list(frame.columns) == ["student", *QIDS, "total", "adjustments", "final",
                                   "assessed_max", "max", "status", "error", "review",
                                   "submitted_at", "layout"]
    assert list(frame["student"]) == sorted(r["student"] for r in cohort)
    by_student = {r.student: r for r in factory.typed(cohort)}
    for _, row in frame.iterrows():
        result = by_student[row["student"]]
        if result.assessed_max_score or result.status == "error":
            assert row["total"] == pytest.approx(result.score, abs=1e-4)
        else:   # nothing assessed (the grader crashed): blank, not 0
            assert math.isnan(row["total"])
        assert row["max"] == result.max_score
        assert row["status"] == result.status
        result = next(r for r in cohort if r["student"] == row["student"])
        for q in result["questions"]:
            assert row[q["id"]] == pytest.approx(q["score"], abs=1e-4)
        if result["questions"]:
            assert sum(row[q] for q in QIDS) == pytest.approx(row["total"], abs=1e-3)


def test_csv_reads_back_identically(cohort, tmp_path):
    path = tmp_path / "gradebook.csv"
    frame = write_gradebook(factory.typed(cohort), path)
    back = pd.read_csv(path, dtype={"student": str, "status": str, "error": str,
                                    "review": str, "adjustments": str, "submitted_at": str,
                                    "layout": str}, keep_default_na=False, na_values={
        q: [""] for q in [*QIDS, "total", "final", "max"]})
    assert list(back.columns) == list(frame.columns)  # "4.1" stays a column name, not a float
    for q in [*QIDS, "total", "max"]:
        assert back[q].tolist() == pytest.approx(frame[q].tolist(), nan_ok=True)


def test_error_students_keep_a_row_with_the_reason(cohort, tmp_path):
    frame = write_gradebook(factory.typed(cohort), tmp_path / "g.csv").set_index("student")
    dave = frame.loc["dave"]
    assert dave["status"] == "error" and dave["total"] == 0.0
    assert all(math.isnan(dave[q]) for q in QIDS)
    assert dave["error"].startswith("corrupt: the notebook is not valid JSON")
    assert dave["review"] == "not graded"
    frank = frame.loc["frank"]
    assert frank["error"].startswith("internal: worker process died")
    assert frank["review"] == "grader failed on this submission"
    assert frame.loc["erin"]["review"] == "internal: 6.1 gradient_flow"
    assert frame.loc["alice"]["error"] == "" and frame.loc["alice"]["review"] == ""


def test_questions_from_another_rubric_get_their_own_columns(tmp_path):
    frame = write_gradebook(factory.typed([factory.passing_result(), factory.finetune_result()]),
                            tmp_path / "g.csv").set_index("student")
    assert list(frame.columns[:8]) == [*QIDS, "C.1", "C.2"]
    assert math.isnan(frame.loc["alice"]["C.1"]) and math.isnan(frame.loc["gina"]["4.1"])
    assert frame.loc["gina"]["C.1"] == pytest.approx(0.5)


def test_unassessed_questions_are_blank_not_zero(tmp_path):
    """A static run never tells a student they scored 0 on a question nobody assessed."""
    path = tmp_path / "g.csv"
    frame = write_gradebook(factory.typed([factory.passing_result(mode="static")]), path)
    assert frame.loc[0, "review"] == "not assessed in this run: 4.2, 5.2, 6.2"
    for qid in ("4.2", "5.2", "6.2"):
        assert math.isnan(frame.loc[0, qid])
    assert frame.loc[0, "4.1"] == pytest.approx(0.5)
    assert frame.loc[0, "assessed_max"] == pytest.approx(1.5)
    assert frame.loc[0, "max"] == pytest.approx(3.0)
    row = path.read_text(encoding="utf-8").splitlines()[1].split(",")
    header = path.read_text(encoding="utf-8").splitlines()[0].split(",")
    assert row[header.index("4.2")] == "" and row[header.index("total")] == "1.5"


def test_a_late_penalty_is_its_own_column_and_final_is_what_is_uploaded(tmp_path):
    from dataclasses import replace

    from grader.result import Adjustment

    alice = factory.typed(factory.passing_result())
    origin = replace(alice.submission.origin, layout="markus",
                     submitted_at="2023-03-11T12:00:00-05:00")
    late = Adjustment(kind="late", points=-0.3, reason="submitted 19 h late: 1 day x 10 %")
    alice = replace(alice, adjustments=[late],
                    submission=replace(alice.submission, origin=origin))
    row = write_gradebook([alice], tmp_path / "g.csv").iloc[0]
    assert row["total"] == pytest.approx(3.0) and row["final"] == pytest.approx(2.7)
    assert row["adjustments"] == "-0.3 late: submitted 19 h late: 1 day x 10 %"
    assert row["submitted_at"] == "2023-03-11T12:00:00-05:00" and row["layout"] == "markus"

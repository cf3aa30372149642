"""A check awaiting a TA's review (an unreplayable trained network) is visible everywhere a TA
looks, costs the student nothing, and earns nothing until someone decides it."""

from __future__ import annotations

import math

from grader.reports import render_dashboard, render_student_report, write_gradebook
from grader.reports.canvas import canvas_grade
from grader.reports.gradescope import to_gradescope, validate_gradescope
from grader.reports.terminal import format_terminal_summary
from tests import reports_factory as factory
from tests.reports_factory import page_text


def _hana():
    return factory.typed(factory.review_result())


def test_review_is_neither_passed_nor_failed_and_not_complete():
    r = _hana()
    assert [(q.id, c.id) for q, c in r.needs_review] == [("6.2", "accuracy")]
    assert r.needs_attention and not r.complete
    q = r.question("6.2")
    assert q.review and not q.complete and q.score == 0.0
    assert r.assessed_max_score == r.max_score - q.max_score


def test_gradebook_review_column_names_question_and_reason(tmp_path):
    frame = write_gradebook([_hana(), factory.typed(factory.passing_result())],
                            tmp_path / "g.csv").set_index("student")
    note = frame.loc["hana"]["review"]
    assert note.startswith("needs review: 6.2 accuracy (")
    assert "custom_colour_lut" in note
    assert "not assessed" not in note        # awaiting review is not "not assessed"
    assert frame.loc["alice"]["review"] == ""


def test_canvas_leaves_the_grade_blank_until_reviewed():
    assert canvas_grade(_hana(), 3.0) == ""
    assert canvas_grade(factory.typed(factory.passing_result()), 3.0) != ""


def test_dashboard_lists_it_under_awaiting_review(tmp_path):
    page = render_dashboard([_hana(), factory.typed(factory.passing_result())], tmp_path
                            ).read_text(encoding="utf-8")
    section = page_text(page, "review")
    assert "hana" in section and "6.2" in section and "custom_colour_lut" in section
    assert "alice" not in section


def test_ta_report_says_why_student_report_says_a_ta_will_look(tmp_path):
    r = _hana()
    ta = render_student_report(r, tmp_path / "ta", audience="ta").read_text(encoding="utf-8")
    student = render_student_report(r, tmp_path / "st").read_text(encoding="utf-8")
    ta_banner, st_banner = page_text(ta, "needs-review"), page_text(student, "needs-review")
    assert "will be looked at by a TA" in ta_banner and "will be looked at by a TA" in st_banner
    assert "custom_colour_lut" in page_text(ta)
    assert "custom_colour_lut" not in page_text(student)   # the grader's internals stay staff-side
    assert "awaits a TA's review" in page_text(student)


def test_terminal_and_gradescope_say_review_not_zero():
    r = _hana()
    text = format_terminal_summary(r)
    assert "TA review" in text
    doc = to_gradescope(r)
    assert validate_gradescope(doc) == []
    assert "A TA will review (not zero): 6.2" in doc["output"]
    test = next(t for t in doc["tests"] if t.get("number", "").startswith("6.2"))
    assert test["score"] == 0.0 and test["max_score"] == 0.0   # listed, but not out of 0.5
    assert test["extra_data"]["status"] == "review" and "A TA will look" in test["output"]
    assert "custom_colour_lut" not in test["output"]
    assert not math.isnan(doc["score"])

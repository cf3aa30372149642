"""The late policy: a visible penalty line computed from the submission time, the rubric's
deadline, grace and cap, and each student's extension; never a silent change to the score."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from grader.late import LateError, LatePolicy, apply_late, read_extensions
from grader.rubric.compile import rubric_hash
from grader.rubric.schema import RUBRICS_DIR, load_rubric
from grader.rubric.yamlpos import RubricError
from tests import reports_factory as factory

DEADLINE = "2023-03-10T17:00:00-05:00"


def policy(**extra) -> LatePolicy:
    return LatePolicy.from_mapping({"deadline": DEADLINE, "per": "day", "penalty": 10,
                                    "cap": 30, **extra})


def submitted(result, when: str | None, late_marker: bool | None = None):
    origin = replace(result.submission.origin, submitted_at=when, lms_late=late_marker,
                     layout="markus")
    return replace(result, submission=replace(result.submission, origin=origin))


@pytest.fixture
def alice():
    return factory.typed(factory.passing_result())   # 3.0 of 3.0


@pytest.mark.parametrize("when, percent", [
    ("2023-03-10T16:59:59-05:00", None),          # on time
    ("2023-03-10T17:00:00-05:00", None),          # at the deadline
    ("2023-03-10T22:00:01+00:00", 10),            # 1 s late (UTC): a started day counts
    ("2023-03-11T16:59:00-05:00", 10),
    ("2023-03-11T17:00:01-05:00", 20),
    ("2023-03-14T09:00:00-05:00", 30),            # 4 days: capped at 30 %
])
def test_per_day_penalty_with_cap(alice, when, percent):
    result = apply_late(submitted(alice, when), policy())
    if percent is None:
        assert result.late is None and result.final_score == result.score
        return
    assert result.late.details["percent"] == percent
    assert result.late.points == pytest.approx(-result.score * percent / 100)
    assert result.final_score == pytest.approx(result.score * (1 - percent / 100))
    assert result.score == alice.score                   # the checks' points are untouched
    assert "after the deadline 2023-03-10T17:00-05:00" in result.late.reason


def test_grace_hours_units_hours_base_and_zero_after(alice):
    lag = submitted(alice, "2023-03-10T17:10:00-05:00")
    assert apply_late(lag, policy(grace_hours=0.25)).late is None        # upload lag forgiven
    free = apply_late(submitted(alice, "2023-03-11T12:00:00-05:00"), policy(grace_units=1))
    assert free.late.points == 0 and "free" in free.late.reason
    hourly = apply_late(submitted(alice, "2023-03-10T19:30:00-05:00"),
                        policy(per="hour", penalty=2, of="max"))
    assert hourly.late.details["units_charged"] == 3                    # 2 h 30 min: 3 hours
    assert hourly.late.points == pytest.approx(-0.06 * alice.max_score)
    gone = apply_late(submitted(alice, "2023-03-15T12:00:00-05:00"), policy(zero_after=3))
    assert gone.final_score == 0.0 and "no credit" in gone.late.reason


def test_extensions_move_the_deadline_and_a_changed_file_recomputes(alice, tmp_path):
    csv_path = tmp_path / "extensions.csv"
    csv_path.write_text("student,days,reason\nalice,2,medical\n", encoding="utf-8")
    late = submitted(alice, "2023-03-12T12:00:00-05:00")
    assert apply_late(late, policy()).late.details["percent"] == 20
    extended = apply_late(late, policy().with_extensions(csv_path))
    assert extended.late is None                                       # within the 2 days
    csv_path.write_text("student,deadline\nalice,2023-03-11T17:00:00-05:00\n", encoding="utf-8")
    moved = apply_late(extended, policy().with_extensions(csv_path))
    assert moved.late.details["percent"] == 10
    assert "extended to 2023-03-11T17:00-05:00" in moved.late.reason


def test_recomputing_replaces_the_late_line_and_keeps_other_adjustments(alice):
    from grader.result import Adjustment

    staff = Adjustment(kind="override", points=0.5, reason="regraded 4.1 by hand")
    once = apply_late(replace(submitted(alice, "2023-03-11T12:00:00-05:00"),
                              adjustments=[staff]), policy())
    twice = apply_late(once, policy())
    assert [a.kind for a in twice.adjustments] == ["override", "late"]
    assert twice.to_dict() == once.to_dict()


def test_no_time_no_penalty_but_an_lms_late_marker_goes_to_a_ta(alice):
    assert apply_late(submitted(alice, None), policy()).late is None
    marked = apply_late(submitted(alice, None, late_marker=True), policy())
    assert marked.late.points == 0 and "a TA decides" in marked.late.reason


def test_the_late_line_survives_result_json(alice):
    result = apply_late(submitted(alice, "2023-03-11T12:00:00-05:00"), policy())
    back = type(result).from_json(result.to_json())
    assert back.late == result.late and back.final_score == result.final_score
    assert back.submission.origin == result.submission.origin


@pytest.mark.parametrize("bad, message", [
    ({}, "needs a 'deadline'"),
    ({"deadline": "2023-03-10 17:00"}, "no UTC offset"),
    ({"deadline": DEADLINE, "per": "week"}, "day or hour"),
    ({"deadline": DEADLINE, "penalty": -1}, "0 or more"),
    ({"deadline": DEADLINE, "graces": 1}, "unknown key 'graces'"),
])
def test_bad_policies_are_refused_with_the_reason(bad, message):
    with pytest.raises(LateError, match=message):
        LatePolicy.from_mapping(bad)


def test_bad_extension_files_are_refused(tmp_path):
    path = tmp_path / "ext.csv"
    path.write_text("who,days\nalice,1\n", encoding="utf-8")
    with pytest.raises(LateError, match="needs a 'student' column"):
        read_extensions(path)
    path.write_text("student,days\nalice,1\nALICE,2\n", encoding="utf-8")
    with pytest.raises(LateError, match="a second extension"):
        read_extensions(path)


def _with_late(tmp_path: Path, block: str) -> Path:
    text = (RUBRICS_DIR / "csc413-2023-a2.yaml").read_text(encoding="utf-8")
    path = tmp_path / "csc413-2023-a2.yaml"
    path.write_text(text + "\n" + block, encoding="utf-8")
    return path


def test_the_rubric_late_section_is_parsed_located_and_outside_the_grading_key(tmp_path):
    (tmp_path / "ext.csv").write_text("student,hours\nbob,12\n", encoding="utf-8")
    path = _with_late(tmp_path, f"late:\n  deadline: \"{DEADLINE}\"\n  penalty: 10\n"
                                "  extensions: ext.csv\n")
    rubric = load_rubric(path)
    assert rubric.late.deadline == datetime.fromisoformat(DEADLINE)
    assert "bob" in rubric.late.extensions                    # found beside the rubric
    shipped = load_rubric("csc413-2023-a2")
    assert rubric_hash(rubric) == rubric_hash(shipped)        # a deadline never regrades
    broken = _with_late(tmp_path, "late:\n  deadline: tomorrow\n")
    with pytest.raises(RubricError, match=r"csc413-2023-a2.yaml:\d+:\d+: late: .*ISO 8601"):
        load_rubric(broken)

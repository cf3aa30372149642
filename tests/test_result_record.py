"""The result record: one type, one serialiser, a loader for every earlier schema, its docs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grader.ingest.problems import Problem
from grader.result import (
    FIELD_DOCS,
    SCHEMA,
    CheckResult,
    QuestionResult,
    Result,
    RubricInfo,
    SubmissionInfo,
)
from grader.result_docs import markdown
from tests import reports_factory as factory

ROOT = Path(__file__).resolve().parents[1]


def _questions(statuses: list[str]) -> list[QuestionResult]:
    checks = [CheckResult(id=f"c{i}", kind="architecture", status=s,
                          score=0.25 if s == "passed" else 0.0, max_score=0.25)
              for i, s in enumerate(statuses)]
    return [QuestionResult(id="4.1", title="Pool", score=sum(c.score for c in checks),
                           max_score=0.25 * len(checks), checks=checks)]


def _graded(statuses: list[str], problems: list[Problem] | None = None) -> Result:
    return Result.graded(student="s", submission=SubmissionInfo(path="s.ipynb"),
                         rubric=RubricInfo(id="r", max_score=1.0), questions=_questions(statuses),
                         problems=problems or [])


def test_status_follows_the_verdicts():
    assert _graded(["passed", "failed"]).status == "graded"
    assert _graded(["error", "error"]).status == "error"
    assert _graded(["passed", "internal"]).status == "internal"
    assert _graded(["passed"], [Problem("internal", "boom")]).status == "internal"
    assert _graded(["skipped", "skipped"]).status == "graded"   # nothing ran: not an error


def test_round_trip_through_json_is_exact():
    for record in factory.cohort(n=4) + [factory.finetune_result()]:
        result = Result.from_dict(record)
        once = Result.from_json(result.to_json())      # scores rounded to 6 digits once
        assert Result.from_json(once.to_json()) == once
        assert once.score == pytest.approx(result.score, abs=1e-6)
        assert json.loads(result.to_json())["schema"] == SCHEMA


def test_every_schema_1_record_loads_and_keeps_its_scores():
    for record in factory.cohort():
        result = Result.from_dict(record)
        assert result.score == pytest.approx(record["score"])
        assert [q.id for q in result.questions] == [q["id"] for q in record["questions"]]
    crash = Result.from_dict(factory.grader_crash_result())
    assert crash.status == "internal" and crash.error.kind == "internal"


def test_an_internal_failure_keeps_what_was_graded():
    graded = _graded(["passed", "failed"])
    failed = Result.internal_failure(student="s", submission=graded.submission,
                                     rubric=graded.rubric, message="the report broke",
                                     exc=ValueError("x"), previous=graded)
    assert failed.status == "internal" and failed.score == graded.score
    assert failed.error.traceback[-1] == "ValueError: x"


def test_unassessed_questions_and_completeness():
    result = _graded(["passed", "skipped"])
    assert not result.complete and result.assessed_max_score == pytest.approx(0.25)
    assert result.fraction == pytest.approx(1.0)


def test_a_newer_schema_is_refused():
    with pytest.raises(ValueError, match="newer"):
        Result.from_dict({"schema": SCHEMA + 1, "student": "s", "status": "graded"})


def test_every_field_is_documented_and_the_page_is_current():
    import dataclasses

    for cls in (Result, SubmissionInfo, RubricInfo, QuestionResult, CheckResult, Problem):
        missing = {f.name for f in dataclasses.fields(cls)} - set(FIELD_DOCS[cls.__name__])
        assert not missing, f"{cls.__name__} fields without docs: {missing}"
    page = (ROOT / "docs" / "results.md").read_text(encoding="utf-8")
    assert page == markdown(), "docs/results.md is stale: python -m grader.result_docs > " \
                               "docs/results.md"

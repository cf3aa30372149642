"""When an upload must leave a grade blank instead of writing a number that would mislead.

Every LMS export applies the same rule, so a grade is never blank in one upload and a wrong
number in another. A number is withheld for:

- `internal`: the grader failed on this submission (never the student's fault);
- `error`: nothing could be graded because of the submission itself; a course may ask for 0
  instead (`zero_errors`), since then 0 is the grade;
- `review`: a check awaits a TA, so the total is not yet the grade;
- `incomplete`: the run did not assess every question (`--checks static`): a partial total is
  not a grade.

An LMS reads "blank" in its own way (Canvas leaves the grade untouched, MarkUs clears it when
uploading with overwrite, PrairieLearn records no score): docs/exports.md says which.
"""

from __future__ import annotations

from dataclasses import dataclass

from grader.result import QuestionResult, Result

KINDS = ("internal", "error", "review", "incomplete")


@dataclass(frozen=True)
class Withheld:
    """Why a grade is left blank: a `kind` from KINDS and one line for course staff."""

    kind: str
    reason: str


def withheld(result: Result, *, zero_errors: bool = False) -> Withheld | None:
    """Why the result's total must not be uploaded, or None when it is the grade."""
    if result.status == "internal":
        return Withheld("internal", "the grader failed on this submission")
    if result.status == "error":
        if zero_errors:
            return None
        why = f": {result.error.kind}: {result.error.message}" if result.error else ""
        return Withheld("error", "the submission could not be graded" + why)
    review = sorted({q.id for q, _ in result.needs_review})
    if review:
        return Withheld("review", "checks await a TA's review in " + ", ".join(review))
    if not result.complete:
        missing = [q.id for q in result.questions if not q.complete]
        return Withheld("incomplete", "not assessed in this run: "
                        + (", ".join(missing) if missing else "every question"))
    return None


def question_withheld(result: Result, question: QuestionResult | None, *,
                      zero_errors: bool = False) -> Withheld | None:
    """Why one question's points must not be uploaded (an upload with a cell per question).

    A whole-row reason (`internal`, `error`) blanks every question; otherwise a question is
    withheld only when it is not complete itself, so the questions a static run did assess
    keep their points. `question` None (the result does not have it, e.g. an unreadable
    submission) is withheld unless the row counts as 0.
    """
    row = withheld(result, zero_errors=zero_errors)
    if row is not None and row.kind in ("internal", "error"):
        return row
    if question is None:
        if result.status == "error":
            return None   # zero_errors: the whole submission scores 0
        return Withheld("incomplete", "this question is not in the result")
    if question.review:
        return Withheld("review", f"a check of {question.id} awaits a TA's review")
    if not question.complete:
        return Withheld("incomplete", f"{question.id} was not assessed in full in this run")
    return None

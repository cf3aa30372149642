"""Grade a write-up's written questions: one verdict per question, shaped like a check's.

Per question the asked answers (six counts, or one padding answer per kernel size) are judged by
the existing checker (``check_answer_set``); the fraction is the share of them that is correct
under an accepted convention (a formula right only at k = 3, "partial", earns
``PARTIAL_CREDIT``). Anything the reader could not read, or read in several ways that the checker
judges differently, makes the verdict ``review``: no points until a TA looks, with the excerpt.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..answerset import AnswerSet, AnswerSetResult, check_answer_set
from ..check import Verdict
from ..conventions import COUNTING_KEYS, QUESTIONS
from .extract import answers_from_writeup
from .records import ExtractedAnswer, Unreadable, WriteupAnswers, WrittenVerdict

__all__ = ["PARTIAL_CREDIT", "asked_keys", "judge_answers", "judge_writeup", "key_name",
           "student_hint"]

PARTIAL_CREDIT = 0.5
_CREDIT = {"correct": 1.0, "partial": PARTIAL_CREDIT}
_LOSES = ("incorrect", "partial")
# How an answer was written when a wrong reading may cost points without a TA: a labelled line,
# a table (a cell, its total, its rows summed) or padding values. Sentences, remarks beside
# another count, values derived for the other image size and several disagreeing candidates
# may not.
FIRM_FORMS = ("line", "table", "table total", "table, rows summed", "text")


def _firm(answer: ExtractedAnswer) -> bool:
    return answer.form in FIRM_FORMS


def asked_keys(question: str) -> tuple[str, ...]:
    spec = QUESTIONS[question]
    if spec.kind == "padding":
        return tuple(f"padding.k{k}" for k in spec.kernels)
    return tuple(COUNTING_KEYS)


def key_name(key: str) -> str:
    """``outputs_doubled`` -> "outputs (64×64)"; ``padding.k4`` -> "padding for k = 4"."""
    if key.startswith("padding.k"):
        return f"padding for k = {key.removeprefix('padding.k')}"
    return key.replace("_doubled", " (64×64)")


def _review_verdict(key: str, item: Unreadable) -> Verdict:
    where = f" ({item.where})" if item.where else ""
    return Verdict(key, "review", answer=item.excerpt or None,
                   hints=[f"a TA will read this{where}: {item.reason}"])


_AGREE = {"correct": "right", "partial": "right"}


def _alternatives_agree(aset: AnswerSet, answer: ExtractedAnswer, status: str) -> bool:
    """Every other reading of an answer is judged right, or wrong, like the one judged.

    "No change: 9NIC·NF + ..." is right as a factor and partial as a formula without k: both
    right, and the formula (the reading judged) decides; "×4" beside a formula judged wrong is
    a contradiction for a TA.
    """
    for text in answer.alternatives:
        other = replace(aset, answers={**aset.answers, answer.key: text})
        judged = {v.key: v.status for v in check_answer_set(other).verdicts}
        got = judged.get(answer.key, "missing")
        if _AGREE.get(got, got) != _AGREE.get(status, status):
            return False
    return True


_TERM_OFF = re.compile(r"^(the .+? term): you have (.+?), expected no such term$")
_TERM_WRONG = re.compile(r"^(the .+? term): you have (.+?), expected .+$")
_TERM_MISSING = re.compile(r"^missing (the .+? term) \(expected .+\)$")
_FACTOR = re.compile(r"^with a 64×64 input the (\w+) count .+ \(you wrote (.+)\)$")


def student_hint(hint: str) -> str:
    """A checker hint with the expected value taken out: the student learns which term is off,
    not the answer."""
    for pattern, shape in ((_TERM_OFF, "{0} should not be there (you have {1})"),
                           (_TERM_WRONG, "{0} is off (you have {1})"),
                           (_TERM_MISSING, "{0} is missing"),
                           (_FACTOR, "{1} is not how the {0} count changes with a 64×64 input")):
        m = pattern.match(hint)
        if m:
            return shape.format(*m.groups())
    first = hint.split("\n")[0].split("; the question asks")[0]
    return re.sub(r",? expected [^;()]+", "", first)


def _conventions(verdicts: dict[str, Verdict]) -> dict[str, str]:
    """What each counted quantity was counted as (the padding question has no conventions)."""
    return {key: v.convention_label or "" for key, v in verdicts.items()
            if v.status in ("correct", "partial") and v.convention_label
            and not key.endswith("_doubled") and not key.startswith("padding.")}


def _message(question: str, status: str, verdicts: dict[str, Verdict], keys: Sequence[str],
             review: list[Unreadable]) -> str:
    label = question.split("/", 1)[1]
    right = sum(1 for k in keys if verdicts[k].status == "correct")
    conventions = _conventions(verdicts)
    counted = "; ".join(f"{key_name(k)}: {c}" for k, c in conventions.items())
    if status == "review":
        which = ", ".join(key_name(u.key) if u.key else "the answer" for u in review[:3])
        return f"{label}: a TA will read {which} ({review[0].reason}); {right} of {len(keys)} " \
               "judged correct so far"
    if status == "passed":
        return f"{label}: all {len(keys)} answers correct" + (f" ({counted})" if counted else "")
    wrong = []
    for k in keys:
        v = verdicts[k]
        if v.status in ("correct",):
            continue
        why = student_hint(v.hints[0]) if v.hints else v.status
        wrong.append(f"{key_name(k)}: {why}" if v.status != "missing" else
                     f"{key_name(k)}: no answer found")
    head = f"{label}: {right} of {len(keys)} correct"
    if counted:
        head += f" (counted as {counted})"
    return head + "; " + "; ".join(wrong)


def _not_found(extracted: WriteupAnswers, question: str,
               review: list[Unreadable]) -> WrittenVerdict:
    label = question.split("/", 1)[1]
    details: dict[str, Any] = {"question": question, "source": str(extracted.source),
                               "kind": extracted.kind, "headings": [], "answers": [],
                               "review": [u.to_dict() for u in review],
                               "provisional_fraction": 0.0}
    if review:
        return WrittenVerdict(question, "review", 0.0,
                              f"{label}: a TA will read the write-up ({review[0].reason})",
                              details)
    return WrittenVerdict(question, "failed", 0.0,
                          f"{label}: no answer found in the write-up (looked for a heading "
                          f"such as '{label}', 'Question {label}' or 'Q{label}')", details)


def _judge_question(extracted: WriteupAnswers, question: str) -> WrittenVerdict:
    answers, unreadable = extracted.for_question(question)
    aset = extracted.sets.get(question)
    if aset is None:
        return _not_found(extracted, question, unreadable)
    keys = asked_keys(question)
    result = check_answer_set(aset)
    verdicts = {v.key: v for v in result.verdicts}
    review = list(unreadable)
    whole = next((u for u in unreadable if u.key is None), None)
    for item in unreadable:
        if item.key is not None:
            verdicts[item.key] = _review_verdict(item.key, item)
    by_key = {a.key: a for a in answers}
    for key in keys:
        v = verdicts.get(key) or Verdict(key, "missing")
        verdicts[key] = v
        answer = by_key.get(key)
        if v.status in ("unparseable", "error"):
            item = Unreadable(question, key, f"the checker cannot read it: "
                              f"{(v.hints or [v.status])[0].splitlines()[0]}",
                              answer.raw if answer else "", answer.where if answer else None)
            review.append(item)
            verdicts[key] = _review_verdict(key, item)
        elif answer is not None and answer.alternatives and \
                not _alternatives_agree(aset, answer, v.status):
            item = Unreadable(question, key, "it can be read in ways that are judged "
                              "differently", answer.raw, answer.where)
            review.append(item)
            verdicts[key] = _review_verdict(key, item)
        elif v.status == "missing" and whole is not None:
            verdicts[key] = _review_verdict(key, whole)
        elif v.status in _LOSES and answer is not None and not _firm(answer):
            # A deduction needs an answer the student clearly gave: one read from a sentence,
            # or picked among several that disagree, is confirmed by a TA first.
            item = Unreadable(question, key, f"judged {v.status}, but read from "
                              f"{answer.form}: a TA confirms before any deduction",
                              answer.raw, answer.where)
            review.append(item)
            verdicts[key] = _review_verdict(key, item)
    credit = sum(_CREDIT.get(verdicts[k].status, 0.0) for k in keys) / len(keys)
    flagged = [u for u in review if u.key is None or u.key in keys]
    status = "review" if any(verdicts[k].status == "review" for k in keys) else \
        "passed" if credit == 1.0 else "failed"
    fraction = 0.0 if status == "review" else credit
    ordered = [verdicts[k] for k in keys]
    final = AnswerSetResult(result.source, result.student, result.model, question, result.given,
                            ordered, result.problems, result.asks)
    details = {
        "question": question,
        "title": QUESTIONS[question].title,
        "source": str(extracted.source),
        "kind": extracted.kind,
        "headings": [str(w) for w in extracted.headings.get(question, [])],
        "answers": [_answer_detail(verdicts[k], by_key.get(k)) for k in keys],
        "review": [u.to_dict() for u in flagged],
        "conventions": {k: verdicts[k].convention for k in keys
                        if verdicts[k].status in ("correct", "partial")},
        "provisional_fraction": credit,
    }
    message = _message(question, status, verdicts, keys, flagged)
    return WrittenVerdict(question, status, fraction, message, details, final)


def _answer_detail(v: Verdict, answer: ExtractedAnswer | None) -> dict[str, Any]:
    return {
        "key": v.key,
        "status": v.status,
        "credit": _CREDIT.get(v.status, 0.0),
        "answer": answer.text if answer else None,
        "written": answer.raw if answer else v.answer,
        "where": str(answer.where) if answer else None,
        "form": answer.form if answer else None,
        "read": answer.status if answer else None,
        "alternatives": list(answer.alternatives) if answer else [],
        "read_as": v.parsed,
        "convention": v.convention,
        "convention_label": v.convention_label,
        "matches": v.matches,
        "expected": v.expected,
        "hints": v.hints,
    }


def judge_answers(extracted: WriteupAnswers) -> list[WrittenVerdict]:
    """One verdict per asked question, in the order asked."""
    return [_judge_question(extracted, q) for q in extracted.questions]


def judge_writeup(path: str | Path, question_ids: str | Sequence[str]) -> list[WrittenVerdict]:
    """Read the write-up at ``path`` and grade each of ``question_ids`` (``2023/4.3``, ...).

    Raises ``WriteupError`` only when the file cannot be read at all (not a PDF, a broken
    notebook); everything else, a missing heading included, is a verdict.
    """
    return judge_answers(answers_from_writeup(path, question_ids))

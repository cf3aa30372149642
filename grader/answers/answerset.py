"""One student's set of answers to one question, and its judged result."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .check import Context, Verdict, check_count, check_padding, describe_given
from .conventions import COUNTING_KEYS, QUESTIONS

__all__ = ["AnswerSet", "AnswerSetResult", "check_answer_set", "normalise_key", "padding_kernel"]


@dataclass
class AnswerSet:
    """Answers as read from a file or notebook cell, before judging."""

    source: str
    model: str
    question: str | None = None
    given: dict[str, int | None] = field(default_factory=dict)
    accept: dict[str, list[str]] = field(default_factory=dict)
    answers: dict[str, Any] = field(default_factory=dict)
    student: str | None = None
    problems: list[str] = field(default_factory=list)


@dataclass
class AnswerSetResult:
    source: str
    student: str | None
    model: str
    question: str | None
    given: dict[str, int]
    verdicts: list[Verdict]
    problems: list[str] = field(default_factory=list)
    asks: str = ""

    def summary(self) -> dict[str, int]:
        return dict(Counter(v.status for v in self.verdicts))

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "student": self.student,
            "model": self.model,
            "question": self.question,
            "given": self.given,
            "asks": self.asks,
            "summary": self.summary(),
            "problems": self.problems,
            "answers": [v.to_dict() for v in self.verdicts],
        }


def normalise_key(raw: str) -> str | None:
    """Map a written answer label to ``weights``, ``outputs_doubled``, ``padding``, ... or None.

    ``Number of weights``, ``weights (64x64)``, ``connections_doubled``, ``outputs 2x`` all work.
    """
    low = raw.lower()
    if "padding" in low:
        return "padding"
    flat = re.sub(r"[^a-z0-9]+", " ", low)
    quantity = next((q for stem, q in (("weight", "weights"), ("param", "weights"),
                                       ("output", "outputs"), ("connection", "connections"))
                     if stem in flat), None)
    if quantity is None:
        return None
    doubled = any(w in flat for w in ("doubl", "64", "2x", "twice", "larger", "bigger"))
    return quantity + ("_doubled" if doubled else "")


def padding_kernel(raw: Any) -> int | None:
    """``k4``, ``k=4``, ``4``, ``kernel 4`` -> 4."""
    m = re.fullmatch(r"\s*(?:k(?:ernel)?(?:[ _]?size)?\s*[=_ ]?\s*)?(\d+)\s*", str(raw).lower())
    return int(m.group(1)) if m else None


def check_answer_set(aset: AnswerSet) -> AnswerSetResult:
    """Judge every answer in the set; keys the question asks for but that are absent are
    reported as ``missing`` (only when the question is known)."""
    ctx = Context.for_model(aset.model, aset.question, aset.given, aset.accept)
    question = QUESTIONS.get(aset.question or "")
    verdicts: list[Verdict] = []
    problems = list(aset.problems)
    counting = {k: v for k, v in aset.answers.items() if k in COUNTING_KEYS}
    asks_counting = (question is not None and question.kind == "counting") or (
        question is None and bool(counting))
    if asks_counting:
        keys = COUNTING_KEYS if question is not None else [k for k in COUNTING_KEYS
                                                            if k in counting]
        by_key: dict[str, Verdict] = {}
        for key in keys:
            base = by_key.get(key.removesuffix("_doubled")) if key.endswith("_doubled") else None
            preferred = base.convention if base and base.status in ("correct", "partial") \
                else None
            verdict = check_count(key, counting.get(key), ctx, preferred)
            by_key[key] = verdict
            verdicts.append(verdict)
    if "padding" in aset.answers or (question is not None and question.kind == "padding"):
        verdicts.extend(_padding_verdicts(aset, question, problems))
    for key in aset.answers:
        if key not in COUNTING_KEYS and key != "padding":
            problems.append(f"unknown answer {key!r} ignored")
    asks = []
    if asks_counting:
        asks.append(describe_given(ctx.given))
    kernels = sorted(int(v.key.removeprefix("padding.k")) for v in verdicts
                     if v.key.startswith("padding.k"))
    if kernels:
        asks.append("padding for k = " + ", ".join(map(str, kernels)))
    return AnswerSetResult(aset.source, aset.student, aset.model, aset.question, ctx.given,
                           verdicts, problems, "; ".join(asks))


def _padding_verdicts(aset: AnswerSet, question: Any, problems: list[str]) -> list[Verdict]:
    entries = aset.answers.get("padding") or {}
    verdicts: list[Verdict] = []
    if not isinstance(entries, dict):
        return [Verdict("padding", "unparseable", answer=str(entries),
                        hints=["expected one entry per kernel size, e.g. k4: {...}, k5: {...}"])]
    by_k: dict[int, Any] = {}
    for raw_key, entry in entries.items():
        k = padding_kernel(raw_key)
        if k is None:
            problems.append(f"padding entry {raw_key!r} ignored: name it k4, k5, ...")
            continue
        by_k[k] = entry
    wanted = list(question.kernels) if question is not None and question.kind == "padding" \
        else []
    for k in sorted(set(by_k) | set(wanted)):
        verdicts.append(check_padding(f"padding.k{k}", by_k.get(k), aset.model, k))
    return verdicts

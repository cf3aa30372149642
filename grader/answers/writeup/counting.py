"""The counting question's six answers, found in the lines under its heading.

Students write them as labelled lines (``Weights: ...``, ``the number of weights is ...``,
``total connections = ... = ...``), as a table with one row per layer (summed, unless it has a
total row), as a formula in the image size W, H (evaluated at 32×32 and, for the doubled
question, at 64×64), and the doubled answers as ``×4`` / ``unchanged`` / a sentence. Answers
given after "when the input is doubled" (until "the original values") are the doubled ones.

Every answer found is a candidate. Per quantity, labelled answers (a line with ":" or "=", a
table) beat sentences, which beat a doubled count derived from a formula in W, H; among equals
the last "total" wins. Candidates that disagree with no total to choose between them are all
judged (the first, with the others as alternatives): if their verdicts differ, a TA decides.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..conventions import COUNTING_KEYS
from .candidates import TOTAL, Candidate, Found, excerpt, from_value, plain, prose_words
from .clean import word_count
from .count_tables import counting_columns, from_table, row_line, size_columns
from .formula import (
    factor_text,
    mentions_doubling,
    mentions_original,
    same_answer,
)
from .headings import read_label
from .prose import doubled_claims, quantities_in
from .records import ExtractedAnswer, Line, Unreadable
from .tables import read_table

__all__ = ["answer_lines", "extract_counting"]

_ANSWER_MARK = re.compile(r"^\s*(?:solution|answers?|ans|my answers?|response)\s*[:.\-]\s*",
                          re.IGNORECASE)
_QUESTION_TEXT = re.compile(
    r"^\s*(?:question\s*[:.]|q\s*:|compute\b|report\b|calculate\b|find\s+the\b|derive\b|"
    r"how\s+(?:does|do|many|would|will)\b|what\s+(?:is|are|would|will)\b|consider\b|explain\b|"
    r"hint\b|note\s*:|please\b|think\s+about\b|if\s+you\s+know\b|"
    r"see\s+(?:the\s+)?(?:assignment\s+)?handout\b)", re.IGNORECASE)


def answer_lines(lines: Sequence[Line]) -> list[Line]:
    """The student's own lines: after a "Solution:"/"Answer:" mark if there is one, without
    paragraphs that restate the question ("Compute the number of weights ...")."""
    lines = list(lines)
    mark = next((i for i, line in enumerate(lines) if _ANSWER_MARK.match(line.text)), None)
    if mark is not None:
        first = lines[mark]
        rest = _ANSWER_MARK.sub("", first.text)
        lines = ([Line(rest, first.where, (), first.heading, first.grid)] if rest else []) \
            + lines[mark + 1:]
    out: list[Line] = []
    skipping = False
    for line in lines:
        if not line.text.strip():
            skipping = False
        elif not out or not out[-1].text.strip() or skipping:
            skipping = skipping or bool(_QUESTION_TEXT.match(line.text))
        if not skipping:
            out.append(line)
    return out


_SEPARATOR = re.compile(
    r"\s*(?::|=|≈|\bis\b|\bare\b|\bequals?\b|\bwould\s+be\b|\bwill\s+be\b|\bbecomes?\b|"
    r"\bremains?\b|\bstays?\b|\bgets\b|\bgoes\b)\s*", re.IGNORECASE)
_PRIME = re.compile(r"(?:weights?|outputs?|connect(?:ions?|s)|neurons?|param\w*)\s*['’′]")
_OPERATOR_EDGE = re.compile(r"(?:[-+−–×·∗*=/^(]|\\times|\\cdot)\s*$")
_OPERATOR_START = re.compile(r"^\s*(?:[-+−–×·∗*=/)]|\\times|\\cdot)")


@dataclass(frozen=True)
class _Key:
    quantity: str
    label: str
    value: str
    strong: bool  # ":" or "=": the writer meant a value to follow
    doubled: bool | None  # from the label itself; None: it does not say


def _key_line(text: str) -> _Key | None:
    words = plain(text)
    first = re.search(r"\b(?:weights?|param|outputs?|neurons?|units|activations?|"
                      r"connect(?:ions?|s))", words, re.IGNORECASE)
    if first is None:
        return None
    sep = _SEPARATOR.search(words, first.end())
    if sep is None:
        return None
    label = words[: sep.start()]
    named = quantities_in(label)
    if len(named) != 1 or word_count(label) > 14:
        return None
    doubled: bool | None = None
    if mentions_doubling(label) or _PRIME.search(label) or re.search(r"\b2x\b|larger|bigger",
                                                                     label, re.IGNORECASE):
        doubled = True
    elif mentions_original(label):
        doubled = False
    strong = sep.group(0).strip() in (":", "=", "≈")
    return _Key(named[0], label, words[sep.end():], strong, doubled)


# a line may hold several answers: "Weights: ..., outputs: ..." or "If the input is doubled,
# the number of weights is unchanged while outputs and connections quadruple"
_NEXT_ANSWER = re.compile(
    r"(?:[;,]|\s(?:while|but|whereas|and)\s)(?=[^,;]*\b(?:weights?|param\w*|outputs?|neurons?|"
    r"connect(?:ions?|s))\b)", re.IGNORECASE)


def _key_segments(text: str) -> list[_Key]:
    """The labelled answers in a line; a leading clause that names no quantity ("If the input
    is doubled") says which input the answers after it are about."""
    words = plain(text)
    keys: list[_Key] = []
    context = ""
    for segment in _NEXT_ANSWER.split(words):
        key = _key_line(segment)
        if key is None:
            if not keys:
                context += " " + segment
            continue
        if key.doubled is None and mentions_doubling(context):
            key = _Key(key.quantity, key.label, key.value, key.strong, True)
        keys.append(key)
    return keys


def _continued(body: Sequence[Line], i: int, value: str) -> tuple[str, int]:
    """A value with the lines it continues onto (an empty value: the formula lines below)."""
    j = i
    if not value.strip():
        k = i + 1
        while k < len(body) and not body[k].text.strip() and k - i <= 2:
            k += 1
        parts = []
        while k < len(body) and body[k].text.strip() and not _key_line(body[k].text) \
                and read_label(body[k]) is None and prose_words(body[k].text) < 3:
            parts.append(body[k].text)
            j = k
            k += 1
        return " ".join(parts), j
    while j + 1 < len(body) and body[j + 1].text.strip() and (
            _OPERATOR_EDGE.search(value) or _OPERATOR_START.match(body[j + 1].text)
            or value.count("(") > value.count(")")):
        j += 1
        value = f"{value} {body[j].text}"
    return value, j


def _stops(line: Line) -> bool:
    label = read_label(line)
    return label is not None and label.style in ("full", "part", "question")


def _candidates(body: Sequence[Line]) -> tuple[Found, list[bool]]:
    found = Found()
    doubled = False
    state: list[bool] = []
    sizes: dict[int, bool] | None = None
    i = 0
    while i < len(body):
        line = body[i]
        state.append(doubled)
        table = read_table(body, i, lambda header, now=doubled: counting_columns(header, now),
                           _stops)
        if table is not None:
            from_table(found, table, counting_columns(table.header, doubled))
            state.extend([doubled] * (table.end - i - 1))
            i = table.end
            continue
        new_sizes = size_columns(line)
        if new_sizes is not None:
            sizes = new_sizes
        elif row_line(found, line, i, sizes, doubled):
            pass
        elif keys := _key_segments(line.text):
            last = i
            for n, key in enumerate(keys):
                value = key.value
                if n == len(keys) - 1:  # only the line's last answer continues below it
                    value, last = _continued(body, i, key.value)
                raw = "\n".join(body[k].text for k in range(i, last + 1))
                is_doubled = key.doubled if key.doubled is not None else doubled
                name = key.quantity + ("_doubled" if is_doubled else "")
                final = bool(TOTAL.search(key.label))
                from_value(found, name, value, raw, line.where, "line", final, key.strong,
                           tuple(range(i, last + 1)))
            state.extend([doubled] * (last - i))
            i = last + 1
            continue
        elif mentions_doubling(line.text) and not mentions_original(line.text):
            doubled = True
        elif mentions_original(line.text):
            doubled = False
        i += 1
    return found, state


def _sentence_candidates(found: Found, body: Sequence[Line], state: list[bool]) -> None:
    """Doubled answers in sentences: paragraphs of the lines that are not labelled answers."""
    start = None
    for i in range(len(body) + 1):
        blank = i == len(body) or not body[i].text.strip() or i in found.labelled
        if not blank and start is None:
            start = i
        if blank and start is not None:
            paragraph = " ".join(body[k].text for k in range(start, i))
            for claim in doubled_claims(plain(paragraph), body[start].where, state[start]):
                found.add(Candidate(f"{claim.quantity}_doubled", factor_text(claim.factor),
                                    claim.sentence, claim.where, "sentence", 2), start)
            start = None


def _choose(question: str, key: str, candidates: list[Candidate]
            ) -> ExtractedAnswer | Unreadable | None:
    """The answer for one key. Candidates that disagree (and no total picks one) are all kept:
    the first is judged with the others as alternatives, and a TA decides if they differ."""
    if not candidates:
        return None
    finals = [c for c in candidates if c.final and c.rank == min(c.rank for c in candidates)]
    readable = [c for c in candidates if c.text is not None]
    if finals or not readable:
        # the last total decides, read or not ("total weights = 33NF + 18NF 2 ..."); with no
        # total and nothing readable, the last attempt is what a TA sees
        c = finals[-1] if finals else candidates[-1]
        if c.text is None:
            return Unreadable(question, key, c.reason, excerpt(c.raw), c.where)
        return ExtractedAnswer(question, key, c.text, excerpt(c.raw), c.where, c.form,
                               c.status, c.alternatives)
    best = min(c.rank for c in readable)
    top = [c for c in readable if c.rank == best]
    distinct: list[Candidate] = []
    for c in top:
        if not any(same_answer(c.text or "", d.text or "") for d in distinct):
            distinct.append(c)
    chosen = distinct[0]
    if len(distinct) == 1:
        return ExtractedAnswer(question, key, chosen.text or "", excerpt(chosen.raw),
                               chosen.where, chosen.form, chosen.status, chosen.alternatives)
    others = tuple(t for c in distinct[1:] for t in (c.text or "", *c.alternatives))
    raw = "\n".join(f"[{c.where}] {excerpt(c.raw)}" for c in distinct[:4])
    return ExtractedAnswer(question, key, chosen.text or "", excerpt(raw), chosen.where,
                           f"{chosen.form} ({len(distinct)} different answers)", chosen.status,
                           chosen.alternatives + others)


def _mentions(body: Sequence[Line], used: set[int], key: str) -> list[Line]:
    quantity, doubled = key.removesuffix("_doubled"), key.endswith("_doubled")
    out = []
    for i, line in enumerate(body):
        if i in used:
            continue
        if quantity in quantities_in(line.text) and (not doubled or mentions_doubling(line.text)):
            out.append(line)
    return out


def extract_counting(question: str, lines: Sequence[Line]
                     ) -> tuple[list[ExtractedAnswer], list[Unreadable]]:
    """The six counting answers under one question's heading, or why each could not be read."""
    body = answer_lines(lines)
    found, state = _candidates(body)
    _sentence_candidates(found, body, state)
    answers: list[ExtractedAnswer] = []
    unreadable: list[Unreadable] = []
    for key in COUNTING_KEYS:
        result = _choose(question, key, [c for c in found.candidates if c.key == key])
        if isinstance(result, ExtractedAnswer):
            answers.append(result)
        elif isinstance(result, Unreadable):
            unreadable.append(result)
        else:
            seen = _mentions(body, found.used, key)
            if seen and found.candidates:
                unreadable.append(Unreadable(
                    question, key, "mentioned under the heading, but no answer could be read",
                    excerpt("\n".join(line.text for line in seen[:3])), seen[0].where))
    if not found.candidates and any(line.text.strip() for line in body):
        text = "\n".join(line.text for line in body if line.text.strip())
        first = next(line for line in body if line.text.strip())
        unreadable.append(Unreadable(question, None, "nothing under the heading could be read "
                                     "as a count", excerpt(text), first.where))
    return answers, unreadable


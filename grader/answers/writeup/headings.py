"""Which lines of a write-up answer which question: headings in the forms students use.

Each offering numbers its written questions its own way (2023: sections 4 and 5, questions
4.3 and 5.4; 2020 and 2022: Parts A and B, questions A.3 and B.4), and students write the
headings in many forms: ``4.3``, ``Q4.3``, ``Question 4.3``, ``Part 4 Q3``, ``4(c)``, ``Part A.3``,
``A.3``, ``A3``; or a part heading (``Part A: ...``, ``5 Strided and Transposed ...``, ``#
PoolUpsampleNet``) followed by ``Question 3``, ``Q3.``, ``(c)`` or ``3.``. A LaTeX write-up
often numbers its parts from 1, so "1.3" is A.3 when part 1 is Part A (``1 Part A: ...``), and a
part is also recognised by its title naming the model (``Part 1: PoolUpsampleNet``).

A section runs from its heading to the next heading that ends it: any full label or part
heading; a weak label (``Question 4``, ``(d)``, ``4.``) only ends a section opened by a weak
label of the same kind, so an answer's own lists do not cut it short.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from ..conventions import QUESTIONS
from .records import Document, Line, Where

__all__ = ["Label", "QuestionForms", "Section", "find_sections", "offering_questions",
           "question_forms", "read_label"]

LabelStyle = Literal["full", "part", "title", "question", "paren", "enum"]

_LETTER_NUMBER = {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}
# words in a part's title that name the part of the handout a question belongs to
# (letters only, lower case: "Part 1: Pool-Upsample Net" matches "poolupsample"); "Image
# Segmentation as Classification" is another part, so "classification" alone names nothing
_MODEL_WORDS = {
    "CNN": ("colourizationasclassification", "colorizationasclassification",
            "colourisationasclassification"),
    "PoolUpsampleNet": ("poolupsample", "pooling", "upsampl"),
    "ConvTransposeNet": ("convtranspose", "transpose", "strided", "deconv"),
}


@dataclass(frozen=True)
class QuestionForms:
    """How one rubric question appears in a write-up."""

    question: str  # "2023/4.3"
    part: str  # the handout's part label, lower case: "4", "a"
    implied: str | None  # the part's number when the handout letters it (A -> "1")
    number: int  # the question's number within its part
    words: tuple[str, ...]  # title words that name the part


def question_forms(question: str) -> QuestionForms:
    offering_part, _, number = QUESTIONS[question].id.split("/", 1)[1].partition(".")
    part = offering_part.lower()
    implied = str(_LETTER_NUMBER[part]) if part in _LETTER_NUMBER else None
    return QuestionForms(question, part, implied, int(number),
                         _MODEL_WORDS.get(QUESTIONS[question].model, ()))


def offering_questions(offering: str) -> tuple[str, ...]:
    """The written questions of one offering (``2023`` -> 2023/4.3, 2023/5.4)."""
    found = tuple(q for q in QUESTIONS if q.split("/", 1)[0] == str(offering).strip())
    if not found:
        known = sorted({q.split("/", 1)[0] for q in QUESTIONS})
        raise KeyError(f"no written questions for offering {offering!r}; known: "
                       f"{', '.join(known)}")
    return found


@dataclass(frozen=True)
class Label:
    """What a heading-like line says about where it is in the handout."""

    style: LabelStyle
    part: str | None = None  # full labels: the part; part headings: the explicit part
    number: int | None = None
    parts: frozenset[str] = frozenset()  # part headings: every label the heading carries
    title: str = ""
    rest: str = ""  # the text after the label, which may already be part of the answer


_PREFIX = r"(?:(?:part|section|sec\.?|question|problem|exercise|task|q|§)\s*)?"
_AFTER = r"(?=$|[\s:.)\]*_,;\-–])"
_FULL = (
    re.compile(r"^" + _PREFIX + r"(?P<part>[A-Da-d]|[1-9])\s*[.\-–]\s*(?P<num>[1-9]|[a-e])"
               r"(?![\d.,]*\d)" + _AFTER + r"[.:)\]]?\s*(?P<rest>.*)$", re.IGNORECASE),
    re.compile(r"^(?:part|section)\s*(?P<part>[A-Da-d1-9])\s*[,:;.\-–]?\s*"
               r"(?:question|q|problem|exercise|task)\s*(?P<num>[1-9])" + _AFTER
               + r"[.:)]?\s*(?P<rest>.*)$", re.IGNORECASE),
    re.compile(r"^(?:(?:part|section)\s*)?(?P<part>[A-Da-d1-9])\s*\(\s*(?P<num>[a-e1-9])\s*\)"
               r"[.:]?\s*(?P<rest>.*)$", re.IGNORECASE),
    re.compile(r"^(?:(?:part|question|q|problem)\s*)?(?P<part>[A-Da-d])(?P<num>[1-9])"
               r"(?=$|[\s:.)])[.:)]?\s*(?P<rest>.*)$", re.IGNORECASE),
)
_PART = re.compile(
    r"^(?:(?P<n>[1-9])\s*\.?\s+)?(?:part|section)\s*(?P<p>[A-Da-d1-9])(?![\w.]*\d)"
    r"(?:\s*[:.\-–)]\s*|\s+|$)(?P<title>.*)$", re.IGNORECASE)
_NUMBERED_TITLE = re.compile(r"^(?P<n>[1-9])\.?\s+(?P<title>[A-Z][A-Za-z\-]+(?:\s+\S+){0,8})$")
_QUESTION = re.compile(r"^(?:question|q|problem|exercise|task)\s*\.?\s*(?P<num>[1-9])"
                       r"(?![\d.]*\d)[.:)]?\s*(?P<rest>.*)$", re.IGNORECASE)
_PAREN = re.compile(r"^(?:\(\s*(?P<a>[a-e1-9])\s*\)|(?P<b>[a-e])\))\s*(?P<rest>.*)$",
                    re.IGNORECASE)
_ENUM = re.compile(r"^(?P<num>[1-9])[.)](?:\s+(?P<rest>.*))?$")


# the handout's own tags after a heading: "4.3 [1.0pt] [Type 3]", "(0.5 points)"
_TAGS = re.compile(r"\[\s*[\d.]+\s*(?:pts?|points?|marks?)\s*\]|\[\s*type\s*\d\s*\]|"
                   r"\(\s*[\d.]+\s*(?:pts?|points?|marks?)\s*\)", re.IGNORECASE)
# The course's LaTeX write-up template labels each part with a bare letter and its points in
# colour; a PDF made without the colour package prints the colour's name: "c blue[1.0pt]".
_LETTER_TAG = re.compile(r"^[\s#*_>]*(?P<num>[a-e])[.)]?\s+(?:(?:blue|red|green|magenta|cyan|"
                         r"black|gray|grey)\s*)?\[\s*[\d.]+\s*(?:pts?|points?|marks?)\s*\]"
                         r"\s*(?P<rest>.*)$", re.IGNORECASE)


def _number(raw: str) -> int:
    return _LETTER_NUMBER[raw.lower()] if raw.isalpha() else int(raw)


def _stripped(text: str) -> str:
    return _TAGS.sub(" ", re.sub(r"^[\s#*_>§]+", "", text)).strip()


def read_label(line: Line) -> Label | None:
    """The heading label a line starts with, or None for an ordinary line."""
    tagged = _LETTER_TAG.match(line.text)
    if tagged:   # "c blue[1.0pt]": part (c) of the current section, as the template prints it
        return Label("paren", number=_number(tagged.group("num")),
                     rest=_stripped(tagged.group("rest")))
    text = _stripped(line.text)
    if not text:
        return None
    short = len(text.split()) <= 3
    for n, pattern in enumerate(_FULL):
        m = pattern.match(text)
        if m and (n < 3 or short or re.match(r"(?i)part|question|q|problem", text)):
            return Label("full", m.group("part").lower(), _number(m.group("num")),
                         rest=m.group("rest").strip())
    m = _PART.match(text)
    if m:
        parts = {m.group("p").lower()} | ({m.group("n")} if m.group("n") else set())
        return Label("part", m.group("p").lower(), parts=frozenset(parts),
                     title=m.group("title").strip())
    m = _NUMBERED_TITLE.match(text)
    if (m and "=" not in text and not text.endswith((".", ":", "?"))
            and (line.heading or len(text) <= 70)):   # "1. Please ignore biases." is a list
        return Label("part", m.group("n"), parts=frozenset({m.group("n")}),
                     title=m.group("title").strip())
    m = _QUESTION.match(text)
    if m:
        return Label("question", number=int(m.group("num")), rest=m.group("rest").strip())
    m = _PAREN.match(text)
    if m:
        return Label("paren", number=_number(m.group("a") or m.group("b")),
                     rest=m.group("rest").strip())
    m = _ENUM.match(text)
    if m:
        return Label("enum", number=int(m.group("num")), rest=(m.group("rest") or "").strip())
    if line.heading:
        return Label("title", title=text)
    return None


def _names(title: str, forms: QuestionForms) -> bool:
    flat = re.sub(r"[^a-z]", "", title.lower())
    return any(word in flat for word in forms.words)


def _aliases(doc: Document, forms: dict[str, QuestionForms]) -> dict[str, set[str]]:
    """Every label a question's part goes by in this write-up."""
    numbered: dict[str, str] = {}  # "2" -> "a" from a heading "2 Part A"
    titled: dict[str, set[str]] = {q: set() for q in forms}
    for line in doc.lines:
        label = read_label(line)
        if label is None or label.style not in ("part", "title"):
            continue
        for other in label.parts - {label.part or ""}:
            numbered.setdefault(other, label.part or "")
        for q, f in forms.items():
            if label.title and _names(label.title, f):
                titled[q] |= set(label.parts)
    out: dict[str, set[str]] = {}
    for q, f in forms.items():
        parts = {f.part} | titled[q] | {n for n, p in numbered.items() if p == f.part}
        if f.implied is not None and numbered.get(f.implied, f.part) == f.part:
            parts.add(f.implied)
        out[q] = parts
    return out


@dataclass(frozen=True)
class Section:
    """The lines under one heading of one question (the heading's own remainder first)."""

    question: str
    heading: Where
    style: LabelStyle
    lines: tuple[Line, ...]


@dataclass
class _Open:
    question: str
    heading: Where
    style: LabelStyle
    lines: list[Line] = field(default_factory=list)


def _closes(open_style: LabelStyle, label: Label, number: int) -> bool:
    """Does a weak label end a section opened by a label of ``open_style``?"""
    if label.style == "question":
        return True
    if open_style == label.style == "paren" or open_style == label.style == "enum":
        return (label.number or 0) > number
    return False


def find_sections(doc: Document, questions: Iterable[str]) -> dict[str, list[Section]]:
    """Each question's sections, in document order (a question may be answered in two places,
    e.g. a heading repeated on the next page)."""
    asked: Sequence[str] = list(questions)
    forms = {q: question_forms(q) for q in asked}
    aliases = _aliases(doc, forms)
    found: dict[str, list[Section]] = {q: [] for q in asked}
    current: set[str] = set()
    opened: dict[str, _Open] = {}

    def close(q: str) -> None:
        sec = opened.pop(q)
        found[q].append(Section(q, sec.heading, sec.style, tuple(sec.lines)))

    def start(q: str, label: Label, line: Line) -> None:
        opened[q] = _Open(q, line.where, label.style)
        if label.rest:
            opened[q].lines.append(Line(label.rest, line.where))

    for line in doc.lines:
        label = read_label(line)
        if label is None:
            for sec in opened.values():
                sec.lines.append(line)
            continue
        if label.style in ("part", "title"):
            named = {q for q in asked if label.title and _names(label.title, forms[q])}
            if label.style == "title" and not named:
                for sec in opened.values():
                    sec.lines.append(line)
                continue
            for q in list(opened):
                if not (label.style == "title" and q in named):
                    close(q)
            current = set(label.parts) | {forms[q].part for q in named}
            continue
        if label.style == "full":
            current = {label.part or ""}
            for q in list(opened):
                close(q)
            for q in asked:
                if label.part in aliases[q] and label.number == forms[q].number:
                    start(q, label, line)
            continue
        matches = [q for q in asked
                   if current & aliases[q] and label.number == forms[q].number]
        for q in list(opened):
            if q in matches:
                opened[q].lines.append(Line(label.rest, line.where) if label.rest else line)
            elif _closes(opened[q].style, label, forms[q].number):
                close(q)
            else:
                opened[q].lines.append(line)
        for q in matches:
            if q not in opened:
                start(q, label, line)
    for q in list(opened):
        close(q)
    return found

"""From a write-up to answer sets: find each question's heading, read what is under it."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from ..answerset import AnswerSet
from ..conventions import QUESTIONS
from ..load import resolve_question
from .counting import extract_counting
from .formula import formula_span
from .headings import Section, find_sections
from .padding_text import extract_padding
from .records import Document, ExtractedAnswer, Line, Unreadable, WriteupAnswers
from .sources import read_document

__all__ = ["answers_from_writeup", "resolve_questions"]

EXCERPT = 300
# lines that look like an answer (a count with a formula, a padding value), not like the
# handout's own text, which a notebook repeats
_COUNTING_WORDS = re.compile(r"\b(?:weights|connections|outputs|parameters)\b", re.IGNORECASE)
_PADDING_VALUE = re.compile(r"padding\s*(?:=|:|\bof\b|\bis\b)\s*\(?\d", re.IGNORECASE)


def _looks_answered(question: str, line: Line) -> bool:
    if QUESTIONS[question].kind == "padding":
        return bool(_PADDING_VALUE.search(line.text))
    span = formula_span(line.text) if _COUNTING_WORDS.search(line.text) else None
    return span is not None and bool(re.search(r"N|k", span))


def resolve_questions(questions: str | Sequence[str]) -> tuple[str, ...]:
    """``"2023/4.3"`` or several ids (``4.3`` alone when unambiguous) -> QUESTIONS keys."""
    items = [questions] if isinstance(questions, str) else list(questions)
    return tuple(resolve_question(q) for q in items)


def _section_lines(sections: Sequence[Section]) -> list[Line]:
    lines: list[Line] = []
    for section in sections:
        lines.extend(section.lines)
        lines.append(Line("", section.heading))
    return lines


def _not_found(doc: Document, question: str) -> Unreadable | None:
    """Why a question's heading was not found, for a TA; None when nothing suggests an answer."""
    label = question.split("/", 1)[1]
    if not doc.has_text:
        return Unreadable(question, None, "the write-up has no text layer (a scan or images?): "
                          "nothing could be read", "")
    hits = [line for line in doc.lines if _looks_answered(question, line)]
    if hits:
        shown = "\n".join(f"[{line.where}] {line.text.strip()}" for line in hits[:3])
        return Unreadable(question, None, f"no heading for {label} found, but these lines may "
                          "answer it", shown[:EXCERPT], hits[0].where)
    if doc.pages_without_text:
        pages = ", ".join(map(str, doc.pages_without_text))
        return Unreadable(question, None, f"no heading for {label} found, and page(s) {pages} "
                          "have no text layer (scans or images?)", "")
    return None


def _answer_set(doc: Document, question: str, answers: list[ExtractedAnswer]) -> AnswerSet:
    entries: dict[str, object] = {}
    padding = {a.key.removeprefix("padding."): a.text for a in answers
               if a.key.startswith("padding.")}
    entries.update({a.key: a.text for a in answers if not a.key.startswith("padding.")})
    if padding:
        entries["padding"] = padding
    return AnswerSet(source=str(doc.path), model=QUESTIONS[question].model, question=question,
                     answers=entries)


def answers_from_writeup(path: str | Path, questions: str | Sequence[str], *,
                         document: Document | None = None) -> WriteupAnswers:
    """Every asked question's answers in the write-up at ``path``, ready for the checker.

    ``questions``: rubric question ids (``2023/4.3``, ``2023/5.4``). A question whose heading
    is not found has no answer set; if anything in the write-up may still hold its answer, an
    ``Unreadable`` says where. Raises ``WriteupError`` when the file cannot be read at all.
    """
    asked = resolve_questions(questions)
    doc = document if document is not None else read_document(path)
    sections = find_sections(doc, asked)
    out = WriteupAnswers(Path(path), doc.kind, asked, {})
    for question in asked:
        found = sections[question]
        out.headings[question] = [s.heading for s in found]
        if not found:
            why = _not_found(doc, question)
            if why is not None:
                out.unreadable.append(why)
            continue
        lines = _section_lines(found)
        spec = QUESTIONS[question]
        if spec.kind == "padding":
            answers, unreadable = extract_padding(question, spec.kernels, lines)
        else:
            answers, unreadable = extract_counting(question, lines)
        out.answers.extend(answers)
        out.unreadable.extend(unreadable)
        out.sets[question] = _answer_set(doc, question, answers)
    return out

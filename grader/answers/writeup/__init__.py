"""Written answers read from the write-up itself: a PDF, converted Markdown, LaTeX, a notebook.

No marker is needed: each rubric question's answers are found under its heading in the forms
students use (``headings.py``), read from labelled lines, per-layer tables, formulas in the image
size and sentences (``counting.py``, ``padding_text.py``), and judged by the existing checker
(``judge.py``). What cannot be read goes to a TA with the excerpt that was found.

For the grading pipeline::

    verdicts = judge_writeup("alice/a2-writeup.pdf", ["2023/4.3", "2023/5.4"])
    for v in verdicts:
        v.question, v.status, v.fraction, v.message, v.details   # status: passed|failed|review
"""

from .extract import answers_from_writeup, resolve_questions
from .headings import offering_questions
from .judge import PARTIAL_CREDIT, judge_answers, judge_writeup, student_hint
from .records import (
    Document,
    ExtractedAnswer,
    Line,
    Unreadable,
    Where,
    WriteupAnswers,
    WrittenVerdict,
)
from .sources import SUFFIXES, WriteupError, read_document

__all__ = [
    "PARTIAL_CREDIT",
    "SUFFIXES",
    "Document",
    "ExtractedAnswer",
    "Line",
    "Unreadable",
    "Where",
    "WriteupAnswers",
    "WriteupError",
    "WrittenVerdict",
    "answers_from_writeup",
    "judge_answers",
    "judge_writeup",
    "offering_questions",
    "read_document",
    "resolve_questions",
    "student_hint",
]

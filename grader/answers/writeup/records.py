"""The typed records of reading a write-up: where a line is, what was read, what was not.

A write-up is read in three steps (document -> sections -> answers), and each step hands the next
plain, frozen records so that what was found, and where, survives to the TA's report: an answer
is never judged without the text it came from, and an answer that could not be read is never
dropped, it becomes an ``Unreadable`` with its excerpt.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..answerset import AnswerSet, AnswerSetResult

__all__ = ["Cell", "Document", "ExtractedAnswer", "Line", "ReadStatus", "SourceKind",
           "Unreadable", "Where", "WriteupAnswers", "WrittenVerdict"]

SourceKind = Literal["pdf", "markdown", "latex", "text", "notebook"]
# read: the text as written; summed: the rows of a per-layer table added up; evaluated: a formula
# in the image size W, H evaluated at 32x32 (or 64x64 for the doubled question)
ReadStatus = Literal["read", "summed", "evaluated"]


@dataclass(frozen=True)
class Where:
    """A place in the write-up a TA can find again: a PDF page, a notebook cell or a text line."""

    kind: Literal["page", "cell", "line"]
    index: int  # page or cell number (1-based); 0 for a plain text file
    line: int  # line within the page / cell / file (1-based)

    def __str__(self) -> str:
        if self.kind == "line":
            return f"line {self.line}"
        return f"{self.kind} {self.index}, line {self.line}"


@dataclass(frozen=True)
class Cell:
    """One horizontally separated piece of a line, kept so tables can be read column by column.

    ``x0``/``x1`` are in the line's own unit (characters for text, ems for a PDF): only their
    order and overlap with the header's cells matter.
    """

    text: str
    x0: float
    x1: float

    @property
    def centre(self) -> float:
        return (self.x0 + self.x1) / 2


@dataclass(frozen=True)
class Line:
    """One line of the write-up, markup removed, with where it was and its cells."""

    text: str
    where: Where
    cells: tuple[Cell, ...] = ()
    heading: bool = False  # marked as a heading by the source (``#``, ``\\section``)
    grid: bool = False  # cells from explicit separators (``|``, ``&``): one line is one row


@dataclass(frozen=True)
class Document:
    """A write-up as lines, whatever it was written in."""

    path: Path
    kind: SourceKind
    lines: tuple[Line, ...]
    pages_without_text: tuple[int, ...] = ()  # PDF pages with no text layer (scans, images)

    @property
    def has_text(self) -> bool:
        return any(line.text.strip() for line in self.lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able, so a document read in the sandbox (a PDF) crosses back as data."""
        return {"path": str(self.path), "kind": self.kind,
                "pages_without_text": list(self.pages_without_text),
                "lines": [{"text": ln.text, "where": [ln.where.kind, ln.where.index,
                                                      ln.where.line],
                           "cells": [[c.text, c.x0, c.x1] for c in ln.cells],
                           "heading": ln.heading, "grid": ln.grid} for ln in self.lines]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Document:
        """The document `to_dict` wrote; raises ValueError on anything else."""
        kinds = ("pdf", "markdown", "latex", "text", "notebook")
        if data.get("kind") not in kinds:
            raise ValueError(f"not a write-up document kind: {data.get('kind')!r}")
        lines = []
        for raw in data.get("lines") or ():
            kind, index, line = raw["where"]
            if kind not in ("page", "cell", "line"):
                raise ValueError(f"not a place in a write-up: {kind!r}")
            lines.append(Line(text=str(raw["text"]), where=Where(kind, int(index), int(line)),
                              cells=tuple(Cell(str(t), float(a), float(b))
                                          for t, a, b in raw.get("cells") or ()),
                              heading=bool(raw.get("heading")), grid=bool(raw.get("grid"))))
        return cls(path=Path(str(data.get("path") or "")), kind=data["kind"],
                   lines=tuple(lines),
                   pages_without_text=tuple(int(p) for p in
                                            data.get("pages_without_text") or ()))


@dataclass(frozen=True)
class ExtractedAnswer:
    """One answer found under a question's heading, as the text that will be judged."""

    question: str  # "2023/4.3"
    key: str  # "weights", "outputs_doubled", "padding.k4", ...
    text: str  # what is judged: a formula, "×4" / "unchanged", or padding values
    raw: str  # the text found in the write-up, as written
    where: Where
    form: str  # how it was written: "line", "table", "table total", "prose", ...
    status: ReadStatus = "read"
    # other readings of the same text (a doubled answer in W and H: at 32 or at 64); the answer is
    # judged automatically only when every reading gets the same verdict
    alternatives: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["where"] = str(self.where)
        return out


@dataclass(frozen=True)
class Unreadable:
    """Something under a question a TA must read: it is never guessed, never silently dropped."""

    question: str
    key: str | None  # None: about the whole question (heading not found, nothing readable)
    reason: str
    excerpt: str
    where: Where | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"question": self.question, "key": self.key, "reason": self.reason,
                "excerpt": self.excerpt, "where": None if self.where is None else str(self.where)}


@dataclass
class WriteupAnswers:
    """Everything read from one write-up for the asked questions, ready for the checker."""

    source: Path
    kind: SourceKind
    questions: tuple[str, ...]
    sets: dict[str, AnswerSet]  # question -> answers found under its heading
    answers: list[ExtractedAnswer] = field(default_factory=list)
    unreadable: list[Unreadable] = field(default_factory=list)
    headings: dict[str, list[Where]] = field(default_factory=dict)  # where each was found

    def for_question(self, question: str) -> tuple[list[ExtractedAnswer], list[Unreadable]]:
        return ([a for a in self.answers if a.question == question],
                [u for u in self.unreadable if u.question == question])


@dataclass(frozen=True)
class WrittenVerdict:
    """The grade of one written question of one write-up, shaped like a check's verdict.

    ``status`` is ``passed`` | ``failed`` | ``review``; as for every check, a ``review`` verdict
    earns nothing until a TA looks (``fraction`` 0.0), and ``details['provisional_fraction']``
    says what the automatically judged answers alone would earn.
    """

    question: str
    status: Literal["passed", "failed", "review"]
    fraction: float
    message: str
    details: dict[str, Any]
    result: AnswerSetResult | None = None  # the checker's table, for terminal and JSON output

    def to_dict(self) -> dict[str, Any]:
        return {"question": self.question, "status": self.status, "fraction": self.fraction,
                "message": self.message, "details": self.details}

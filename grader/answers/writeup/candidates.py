"""A candidate answer: what was found for one count, where, and how sure the reading is.

Both the line reader (``counting.py``) and the table reader (``count_tables.py``) turn what
they find into candidates; ``counting.py`` then picks one per count.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .formula import (
    FormulaError,
    factor_text,
    formula_span,
    mentions_doubling,
    read_factor,
    read_formula,
)
from .prose import quantities_in
from .records import ReadStatus, Where

__all__ = ["Candidate", "EXCERPT", "Found", "TOTAL", "ZERO", "excerpt", "from_value",
           "has_variable", "plain", "prose_words"]

EXCERPT = 300


@dataclass
class Candidate:
    """One answer found for one count (``text`` None: found, but it cannot be read)."""

    key: str
    text: str | None  # None: found but unreadable
    raw: str
    where: Where
    form: str
    # 0: labelled ("Weights: ...", a table), 2: a sentence ("the weights stay the same"),
    # 3: derived (the doubled count from a formula in W, H); lower rank wins
    rank: int
    final: bool = False
    status: ReadStatus = "read"
    alternatives: tuple[str, ...] = ()
    reason: str = ""


@dataclass
class Found:
    """Every candidate under one heading, and which body lines they came from."""

    candidates: list[Candidate] = field(default_factory=list)
    used: set[int] = field(default_factory=set)  # body lines that gave a readable answer
    labelled: set[int] = field(default_factory=set)  # labelled lines and tables: not prose

    def add(self, candidate: Candidate, *lines: int) -> None:
        self.candidates.append(candidate)
        if candidate.text is not None:
            self.used.update(lines)
        if candidate.rank == 0:
            self.labelled.update(lines)


TOTAL = re.compile(r"\b(?:total|overall|sum|in\s+all|altogether|entire|whole\s+(?:model|"
                   r"network)|all\s+layers)\b", re.IGNORECASE)
ZERO = re.compile(r"^\s*(?:0|-|—|–|n/?a|none|no|\.)?\s*$", re.IGNORECASE)
_LATEX_TEXT = re.compile(r"\\(?:text|textrm|mathrm|textbf|mathbf|textit|mathit|operatorname)"
                         r"\s*\{([^{}]*)\}")


def plain(text: str) -> str:
    """A line as its words: LaTeX text wrappers and math dollars removed."""
    previous = None
    while previous != text:
        previous = text
        text = _LATEX_TEXT.sub(r"\1", text)
    return text.replace("$", " ").strip()


def prose_words(text: str) -> int:
    """English words in a text (not variable names, not LaTeX commands such as ``\\frac``)."""
    return sum(1 for w in re.findall(r"(?<![\\A-Za-z])[A-Za-z]{2,}", text)
               if formula_span(w) is None)


def has_variable(text: str) -> bool:
    span = formula_span(text)
    return span is not None and bool(re.search(r"N|k", span))


def excerpt(text: str) -> str:
    text = re.sub(r"[ \t]+", " ", text).strip()
    return text if len(text) <= EXCERPT else text[: EXCERPT - 1] + "…"


def _doubled_readings(value: str, quantity: str) -> tuple[str, tuple[str, ...], ReadStatus] | None:
    """A doubled answer: a formula (64×64 count) and/or a factor; both kept when both given."""
    factor = read_factor(value)
    if factor is None and quantity in quantities_in(value):
        factor = read_factor(value + " unchanged")  # "weights' = weights": the same count
    reading = read_formula(value, 32)
    if reading is None:
        return (factor_text(factor), (), "read") if factor is not None else None
    extra = (factor_text(factor),) if factor is not None else ()
    if reading.sized:  # W, H may mean the 32×32 input or the 64×64 one: judged both ways
        at64 = read_formula(value, 64)
        assert at64 is not None
        return reading.text, (at64.text, *extra), "evaluated"
    return reading.text, extra, "read"


def from_value(found: Found, key: str, value: str, raw: str, where: Where, form: str,
               final: bool, strong: bool, lines: tuple[int, ...]) -> None:
    """Candidates for one labelled value (or one table cell); ``strong``: labelled with ":" or
    "=" (or a table cell), not a sentence ("the weights stay the same")."""
    quantity, doubled = key.removesuffix("_doubled"), key.endswith("_doubled")
    rank = 0 if strong else 2
    form = form if strong else "sentence"   # said in passing, not given as the answer
    try:
        if doubled:
            readings = _doubled_readings(value, quantity)
            if readings is not None:
                text, alternatives, status = readings
                found.add(Candidate(key, text, raw, where, form, rank, final, status,
                                    alternatives), *lines)
                return
            reason = "no formula or factor found"
        else:
            reading = read_formula(value, 32)
            if reading is not None:
                status: ReadStatus = "evaluated" if reading.sized else "read"
                found.add(Candidate(key, reading.text, raw, where, form, rank, final, status),
                          *lines)
                if reading.sized:
                    at64 = read_formula(value, 64)
                    assert at64 is not None
                    found.add(Candidate(f"{key}_doubled", at64.text, raw, where,
                                        f"{form}, in W and H at 64×64", 3, final,
                                        "evaluated"), *lines)
                _remark(found, key, value.replace(reading.written, " ", 1), raw, where, lines)
                return
            reason = "no formula found"
    except FormulaError as exc:
        reason = f"the formula cannot be read: {exc}"
    if strong:
        found.add(Candidate(key, None, raw, where, form, 0, final, reason=reason))


def _remark(found: Found, key: str, rest: str, raw: str, where: Where,
            lines: tuple[int, ...]) -> None:
    """The doubled answer said beside a count: "9NF + ... (unchanged when doubled)"."""
    factor = read_factor(rest) if mentions_doubling(rest) else None
    if factor is not None:
        found.add(Candidate(f"{key}_doubled", factor_text(factor), raw, where,
                            "remark beside the count", 2), *lines)

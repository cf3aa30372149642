"""Doubled-input answers written as sentences.

"When input dimensions are doubled, the neurons (outputs) and connections all scaled up by 4
times, but the weights stay the same." carries three answers. A sentence is cut into clauses
(at commas, semicolons, "but", "while", "whereas", and "and" before another quantity); a clause
naming quantities takes the factor it states, or the factor of the next clause that states one
without naming a quantity of its own ("outputs and connections, which both quadruple").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from .formula import mentions_doubling, read_factor
from .records import Where

__all__ = ["DoubledClaim", "QUANTITY", "doubled_claims", "quantities_in", "sentences"]

QUANTITY = re.compile(
    r"\b(?:(?P<weights>weights?|param(?:eter)?s?)|(?P<outputs>outputs?|neurons?|units|"
    r"activations?)|(?P<connections>connect(?:ions?|s)))\b", re.IGNORECASE)


def quantities_in(text: str) -> list[str]:
    """The counted quantities a text names, in order, each once."""
    found: list[str] = []
    for m in QUANTITY.finditer(text):
        name = m.lastgroup or ""
        if name not in found:
            found.append(name)
    return found


@dataclass(frozen=True)
class DoubledClaim:
    quantity: str
    factor: Fraction
    sentence: str
    where: Where


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(])")
_CLAUSE = re.compile(
    r"([,;]|\bbut\b|\bwhile\b|\bwhereas\b|\bhowever\b|\band\b(?=\s+(?:the\s+)?(?:number\s+of\s+)?"
    r"(?:total\s+)?(?:weights?|param|outputs?|neurons?|connect(?:ions?|s))))", re.IGNORECASE)


def sentences(paragraph: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(paragraph) if s.strip()]


def doubled_claims(paragraph: str, where: Where, doubled_context: bool) -> list[DoubledClaim]:
    """Factor claims about the doubled input in a paragraph; a sentence counts when it speaks of
    doubling itself or follows a line that did (``doubled_context``)."""
    claims: list[DoubledClaim] = []
    for sentence in sentences(paragraph):
        if not (doubled_context or mentions_doubling(sentence)):
            continue
        pending: list[str] = []
        joined = False  # the clause is joined to the previous one by "and" (one subject)
        parts = _CLAUSE.split(sentence)
        for n in range(0, len(parts), 2):
            clause = parts[n]
            named = quantities_in(clause)
            factor = read_factor(clause)
            if named and not joined:
                pending = []  # "the weights stay the same, while the outputs ...": new subject
            joined = n + 1 < len(parts) and parts[n + 1].strip().lower() == "and"
            if named and factor is None:
                pending.extend(q for q in named if q not in pending)
                continue
            if factor is None:
                continue
            for quantity in pending + [q for q in named if q not in pending]:
                claims.append(DoubledClaim(quantity, factor, sentence, where))
            pending = []
    return claims

"""Score every pair of students on one target, counting only evidence of copying.

A fingerprint is the hash of `k` consecutive canonical tokens. Two fragments share a
fingerprint when `k` tokens in a row agree after normalisation. On this assignment most shared
fingerprints are not evidence: the handout prescribes the architecture layer by layer, so
correct solutions agree wherever they follow it the usual way. A fingerprint is therefore
discounted when
- the baseline has it: the reference solution (a correct solution, written once by staff), the
  starter's skeleton, or a starter notebook the course gives; or
- it is common in the class: more than `common_share` of the students, and more than
  `common_least` of them, have it (how most students wrote this layer).
What is left for a student is their distinctive code. A pair's score is the share of the
smaller distinctive set that the other student also has, with the denominator never below
`floor` so that a student who wrote almost nothing distinctive cannot score 1 on two chance
matches. The constants were chosen on measurements (docs/similarity.md).
"""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from grader.similarity.fragments import Fragment
from grader.similarity.normalise import Token, normalise


@dataclass(frozen=True)
class Settings:
    """The knobs of the score; defaults are the measured choice (docs/similarity.md)."""

    k: int = 16
    common_share: float = 0.1
    common_least: int = 3
    floor: int = 60
    threshold: float = 0.5


@dataclass(frozen=True)
class Document:
    """A fragment, its canonical tokens and the fingerprint starting at each token."""

    fragment: Fragment
    tokens: tuple[Token, ...]
    hashes: tuple[int, ...]

    @property
    def student(self) -> str:
        return self.fragment.student


@dataclass(frozen=True)
class Match:
    """Two students' code for one target, how alike it is beyond what is expected, and where."""

    target: str
    a: Document
    b: Document
    score: float
    shared: int                  # distinctive fingerprints both have
    smaller: int                 # distinctive fingerprints of the smaller of the two
    lines_a: frozenset[int]      # fragment lines of `a` covered by them (1-based)
    lines_b: frozenset[int]


def fingerprint(texts: list[str], k: int) -> tuple[int, ...]:
    """The hash of each run of `k` tokens (stable across processes, unlike `hash`)."""
    out = []
    for i in range(len(texts) - k + 1):
        digest = hashlib.blake2b("\x1f".join(texts[i:i + k]).encode(), digest_size=8).digest()
        out.append(int.from_bytes(digest, "big"))
    return tuple(out)


def document(fragment: Fragment, settings: Settings, kept: Iterable[str]) -> Document:
    """Normalise a fragment (`kept`: the rubric's class names, spelled as they are)."""
    tokens = tuple(normalise(fragment.source, aliases=fragment.aliases, kept=kept,
                             first=[fragment.target]))
    return Document(fragment, tokens, fingerprint([t.text for t in tokens], settings.k))


def _lines(doc: Document, shared: set[int], k: int) -> frozenset[int]:
    lines: set[int] = set()
    for i, value in enumerate(doc.hashes):
        if value in shared:
            for token in doc.tokens[i:i + k]:
                lines.update(range(token.first, token.last + 1))
    return frozenset(lines)


def common_fingerprints(documents: list[Document], settings: Settings) -> set[int]:
    """Fingerprints so many students have that they describe the class, not a pair."""
    counts = Counter(h for d in documents for h in set(d.hashes))
    cut = max(settings.common_least, settings.common_share * len(documents))
    return {h for h, n in counts.items() if n > cut}


def compare(target: str, documents: list[Document], baseline: set[int],
            settings: Settings) -> tuple[list[Match], dict[str, int]]:
    """Every pair with distinctive code in common, best first; and how many distinctive
    fingerprints each student has (what a pair with nothing in common would be scored on)."""
    expected = baseline | common_fingerprints(documents, settings)
    distinctive = {id(d): set(d.hashes) - expected for d in documents}
    matches: list[Match] = []
    for a, b in itertools.combinations(documents, 2):
        mine, theirs = distinctive[id(a)], distinctive[id(b)]
        shared = mine & theirs
        if not shared:
            continue
        smaller = min(len(mine), len(theirs))
        score = len(shared) / max(smaller, settings.floor)
        matches.append(Match(target, a, b, round(score, 4), len(shared), smaller,
                             _lines(a, shared, settings.k), _lines(b, shared, settings.k)))
    matches.sort(key=lambda m: (-m.score, m.a.student, m.b.student))
    return matches, {d.student: len(distinctive[id(d)]) for d in documents}

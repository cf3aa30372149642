"""A class's similarity: read every submission, cut each target's code, score every pair.

Nothing runs: submissions are only read and parsed (the same ingest the grader uses), so the
report can be made for any folder, graded or not, in seconds.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from grader.ingest import IngestError, Submission, load_submission
from grader.ingest.layouts import Entry
from grader.rubric.schema import Rubric
from grader.similarity.baseline import Baseline, load_baseline
from grader.similarity.compare import Document, Match, Settings, compare, document
from grader.similarity.fragments import Fragment, class_targets, fragments


@dataclass(frozen=True)
class Skipped:
    """A submission left out of the comparison, and why (unreadable)."""

    student: str
    reason: str


@dataclass(frozen=True)
class Pair:
    """Two students over every target both define: the unit a TA looks at.

    A copier copies a notebook, not one class; two independent students may write one class
    the same way by chance, rarely all of them. So the pair's score pools the evidence: the
    distinctive fingerprints shared on every target, over the smaller student's distinctive
    fingerprints on those targets (never below the floor)."""

    a: str
    b: str
    score: float
    shared: int
    matches: tuple[Match, ...]     # the targets with something in common, best first


@dataclass(frozen=True)
class Similarity:
    """Everything the page and the CSV show."""

    rubric_id: str
    rubric_title: str
    settings: Settings
    targets: tuple[str, ...]
    students: tuple[str, ...]
    pairs: tuple[Pair, ...]               # every pair with distinctive code in common
    missing: dict[str, tuple[str, ...]]   # target -> students who do not define it
    skipped: tuple[Skipped, ...]
    baseline: tuple[str, ...]             # what was subtracted, in words

    @property
    def flagged(self) -> list[Pair]:
        return [p for p in self.pairs if p.score >= self.settings.threshold]


def read_entry(entry: Entry) -> Submission:
    """One download entry as a submission (several files are read as one folder)."""
    if entry.single is not None:
        return load_submission(entry.single, student=entry.student)
    if len(entry.paths) == 1:
        return load_submission(entry.paths[0], student=entry.student)
    folder = Path(tempfile.mkdtemp(prefix="grader-similarity-"))
    try:
        for name, path in zip(entry.names, entry.paths, strict=True):
            target = folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        submission = load_submission(folder, student=entry.student)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return submission


def read_entries(entries: list[Entry]) -> tuple[list[Submission], list[Skipped]]:
    submissions, skipped = [], []
    for entry in entries:
        try:
            submissions.append(read_entry(entry))
        except (IngestError, OSError) as exc:
            skipped.append(Skipped(entry.student, str(exc)))
    return submissions, skipped


Fragments = dict[str, dict[str, Fragment]]   # student -> target -> fragment


def _documents(items: list[Fragment], rubric: Rubric, settings: Settings) -> list[Document]:
    kept = [*rubric.targets, *(a for t in rubric.targets.values() for a in t.aliases)]
    return [document(f, settings, kept) for f in items]


def collect(submissions: list[Submission], rubric: Rubric
            ) -> tuple[Fragments, list[Skipped]]:
    """Each student's fragment per target (the slow part: parsing notebooks)."""
    found: Fragments = {}
    skipped: list[Skipped] = []
    for submission in submissions:
        try:
            found[submission.student] = fragments(submission, rubric)
        except (SyntaxError, RecursionError, ValueError) as exc:
            skipped.append(Skipped(submission.student, f"could not be parsed: {exc}"))
    return found, skipped


def score(found: Fragments, rubric: Rubric, baseline: Baseline, settings: Settings,
          skipped: list[Skipped] | None = None) -> Similarity:
    """Score every pair on every target of `rubric`, then pool each pair's targets."""
    by_pair: dict[tuple[str, str], list[Match]] = {}
    sizes: dict[str, dict[str, int]] = {}
    missing: dict[str, tuple[str, ...]] = {}
    targets = class_targets(rubric)
    for target in targets:
        have = [found[s][target] for s in found if target in found[s]]
        missing[target] = tuple(s for s in found if target not in found[s])
        expected: set[int] = set()
        for doc in _documents(baseline.fragments.get(target, []), rubric, settings):
            expected.update(doc.hashes)
        matches, sizes[target] = compare(target, _documents(have, rubric, settings), expected,
                                         settings)
        for match in matches:
            by_pair.setdefault((match.a.student, match.b.student), []).append(match)
    pairs = [_pool(a, b, matches, sizes, settings) for (a, b), matches in by_pair.items()]
    pairs.sort(key=lambda p: (-p.score, p.a, p.b))
    return Similarity(rubric.id, rubric.title, settings, tuple(targets), tuple(found),
                      tuple(pairs), missing, tuple(skipped or ()), baseline.sources)


def _pool(a: str, b: str, matches: list[Match], sizes: dict[str, dict[str, int]],
          settings: Settings) -> Pair:
    both = [t for t, size in sizes.items() if a in size and b in size]
    smaller = sum(min(sizes[t][a], sizes[t][b]) for t in both)
    shared = sum(m.shared for m in matches)
    matches.sort(key=lambda m: -m.score)
    return Pair(a, b, round(shared / max(smaller, settings.floor), 4), shared, tuple(matches))


def analyse(submissions: list[Submission], rubric: Rubric, *,
            starter: Path | None = None, settings: Settings | None = None,
            skipped: list[Skipped] | None = None) -> Similarity:
    """Score every pair of submissions on every target of `rubric`, the starter's and the
    reference's code subtracted."""
    found, unparsed = collect(submissions, rubric)
    return score(found, rubric, load_baseline(rubric, starter), settings or Settings(),
                 [*(skipped or []), *unparsed])

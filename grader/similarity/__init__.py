"""Code similarity between students, for the rubric's classes: a lead for a TA, never a grade.

`grader similarity PATH... --rubric ID --out DIR` (grader/similarity/cli.py), or after a batch
`write_similarity(out_dir, entries, rubric)`, writes similarity.html and similarity.csv.
How it works and how the threshold was chosen: docs/similarity.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from grader.ingest.layouts import Entry
from grader.rubric.schema import Rubric
from grader.similarity.analyse import Pair, Similarity, analyse, read_entries
from grader.similarity.compare import Settings
from grader.similarity.report import PAGE, TABLE, summary, write_report


def write_similarity(out_dir: str | Path, entries: Sequence[Entry], rubric: Rubric,
                     *, starter: Path | None = None) -> Path:
    """The similarity page and table of a batch's submissions into `out_dir` (what
    `grader grade` calls once the class is read); returns the page's path."""
    submissions, skipped = read_entries(list(entries))
    page, _ = write_report(analyse(submissions, rubric, skipped=skipped, starter=starter),
                           Path(out_dir))
    return page


__all__ = ["PAGE", "TABLE", "Pair", "Settings", "Similarity", "analyse", "read_entries",
           "summary", "write_report", "write_similarity"]

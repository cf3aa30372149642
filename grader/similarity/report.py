"""similarity.html and similarity.csv: the pairs worth a TA's look, side by side.

The page is self-contained like the grader's other pages (inline CSS, no script, a
Content-Security-Policy that allows none), and every piece of student code goes through
jinja's autoescaping: a `<script>` in a comment is shown, never run.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import jinja2

from grader.files import atomic_write_text
from grader.reports.render import TEMPLATES, csp, stylesheet
from grader.similarity.analyse import Pair, Similarity
from grader.similarity.compare import Match

PAGE = "similarity.html"
TABLE = "similarity.csv"
HERE = Path(__file__).with_name("templates")


@dataclass(frozen=True)
class ShownLine:
    """One line of a side shown on the page."""

    number: int | None     # the student's line in their cell
    where: str | None      # the cell, on the first line of each cell
    text: str
    shared: bool


def spans(lines: frozenset[int], match: Match, side: str) -> str:
    """The shared lines as the student counts them: 'cell 7: 3-9, 12; cell 9: 1-4'."""
    fragment = (match.a if side == "a" else match.b).fragment
    by_cell: dict[str, list[int]] = {}
    for number in sorted(lines):
        where = fragment.lines[number - 1]
        by_cell.setdefault(where.where or "generated code", []).append(where.line or number)
    parts = []
    for cell, numbers in by_cell.items():
        runs: list[list[int]] = []
        for n in numbers:
            if runs and n == runs[-1][-1] + 1:
                runs[-1].append(n)
            else:
                runs.append([n])
        parts.append(f"{cell}: " + ", ".join(
            f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs))
    return "; ".join(parts)


def side(match: Match, which: str) -> list[ShownLine]:
    doc = match.a if which == "a" else match.b
    lines = match.lines_a if which == "a" else match.lines_b
    shown, previous = [], None
    for number, line in enumerate(doc.fragment.lines, start=1):
        shown.append(ShownLine(line.line, line.where if line.where != previous else None,
                               line.text, number in lines))
        previous = line.where
    return shown


def write_csv(similarity: Similarity, path: Path) -> Path:
    """One row per pair and target with anything in common, best pair first."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["student_a", "student_b", "pair_score", "flagged", "target",
                     "target_score", "shared_fingerprints", "shared_lines_a",
                     "shared_lines_b"])
    for pair in similarity.pairs:
        for match in pair.matches:
            writer.writerow([pair.a, pair.b, f"{pair.score:.3f}",
                             "yes" if pair.score >= similarity.settings.threshold else "no",
                             match.target, f"{match.score:.3f}", match.shared,
                             spans(match.lines_a, match, "a"), spans(match.lines_b, match, "b")])
    return atomic_write_text(path, buffer.getvalue())


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader([jinja2.FileSystemLoader(str(HERE)),
                                    jinja2.FileSystemLoader(str(TEMPLATES))]),
        autoescape=True, trim_blocks=True, lstrip_blocks=True,
        undefined=jinja2.StrictUndefined)


def render(similarity: Similarity, *, near: int = 10) -> str:
    """The page: flagged pairs side by side, then the nearest pairs below the threshold."""
    flagged = similarity.flagged
    below = [p for p in similarity.pairs if p.score < similarity.settings.threshold][:near]
    return _environment().get_template("similarity.html.j2").render(
        s=similarity, flagged=flagged, below=below, side=side, spans=spans,
        css=stylesheet(), csp=csp(None),
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))


def write_report(similarity: Similarity, out_dir: Path) -> tuple[Path, Path]:
    """Write similarity.html and similarity.csv into `out_dir`."""
    out_dir = Path(out_dir)
    page = atomic_write_text(out_dir / PAGE, render(similarity))
    return page, write_csv(similarity, out_dir / TABLE)


def summary(similarity: Similarity, page: Path | None = None) -> str:
    """A few lines for the terminal."""
    flagged = similarity.flagged
    lines = [f"similarity: {len(similarity.students)} submissions, "
             f"{len(flagged)} pair(s) at or above {similarity.settings.threshold:.2f} "
             "(a lead for a TA, never a deduction)"]
    lines += [f"  {p.score:.2f}  {p.a} ~ {p.b}  ("
              + ", ".join(f"{m.target} {m.score:.2f}" for m in p.matches) + ")"
              for p in flagged[:20]]
    if len(flagged) > 20:
        lines.append(f"  ... and {len(flagged) - 20} more")
    for skipped in similarity.skipped:
        lines.append(f"  skipped {skipped.student}: {skipped.reason}")
    if page is not None:
        lines.append(f"report: {page}")
    return "\n".join(lines)


__all__ = ["PAGE", "TABLE", "Pair", "render", "summary", "write_csv", "write_report"]

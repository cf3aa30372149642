"""Submissions for the pipeline and CLI tests, made by editing the reference notebooks.

Each faulty variant is one precise edit of a reference notebook (the edit must apply, so a change
to the reference notebook that silently defeats a test fails loudly here instead).
"""

from __future__ import annotations

from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "submissions" / "reference"


def reference_notebook(rubric_id: str) -> Path:
    return REFERENCE / rubric_id / "reference.ipynb"


def edited(rubric_id: str, dest: Path, cls: str, old: str, new: str, count: int = 1,
           source: Path | None = None) -> Path:
    """The reference notebook (or `source`) with `old` replaced by `new` (`count` times) in the
    cell that defines `cls`."""
    nb = nbformat.read(source or reference_notebook(rubric_id), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and f"class {cls}(" in cell.source:
            if cell.source.count(old) < count:
                raise AssertionError(f"{old!r} occurs {cell.source.count(old)} times in the "
                                     f"{cls} cell, the edit needs {count}")
            cell.source = cell.source.replace(old, new, count)
            break
    else:
        raise AssertionError(f"no cell defines {cls}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest)
    return dest


def with_cell(rubric_id: str, dest: Path, source: str) -> Path:
    """The reference notebook with one more code cell at the end."""
    nb = nbformat.read(reference_notebook(rubric_id), as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(source))
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest)
    return dest


def checks_by_status(result: dict) -> dict[str, set[str]]:
    """{status: {"<question>/<check>"}} of a result."""
    out: dict[str, set[str]] = {}
    for q in result["questions"]:
        for c in q["checks"]:
            out.setdefault(c["status"], set()).add(f"{q['id']}/{c['id']}")
    return out


def question_scores(result: dict) -> dict[str, float]:
    return {q["id"]: q["score"] for q in result["questions"]}

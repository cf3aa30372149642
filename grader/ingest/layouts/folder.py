"""The plain class folder: each notebook, `.py`, `.zip` or sub-folder is one student.

The student id is the file or folder name's stem, or the rubric's `student_pattern` group. It
knows no submission times; two entries with the same id (alice.ipynb and alice.zip) are both
graded, the second as `alice-2`, and the batch says so.
"""

from __future__ import annotations

from pathlib import Path

from grader.files import safe_name
from grader.ingest.layouts.base import Entry, Found, layout
from grader.ingest.origin import Origin
from grader.ingest.submission import discover, student_id


def read_paths(paths: list[Path], student_pattern: str | None) -> Found:
    """Files given one by one, and class folders of them."""
    discovered = discover(paths)
    seen: dict[str, int] = {}
    entries: list[Entry] = []
    notes: list[str] = []
    for path in discovered:
        who = student_id(path, student_pattern)
        key = safe_name(who).casefold()
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > 1:
            notes.append(f"{path.name}: the id {who!r} is taken by another entry; graded as "
                         f"{who}-{seen[key]} (use an LMS --layout to grade only the latest)")
            who = f"{who}-{seen[key]}"
        entries.append(Entry(student=who, paths=(path,), origin=Origin(layout="folder")))
    return Found("folder", entries, ignored=list(discovered.ignored), notes=notes)


def _always(root: Path) -> str:
    return "a plain class folder (one entry per student)"


@layout("folder", help="one notebook, .py, .zip or sub-folder per student, named by id",
        detect=_always)
def read(root: Path, student_pattern: str | None) -> Found:
    return read_paths([root], student_pattern)

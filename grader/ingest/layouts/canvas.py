"""Canvas / Quercus "Download Submissions": one flat folder of renamed files.

Canvas names each file `<lastfirst>_<user id>_<submission id>_<original name>`, inserts `LATE`
after the name for a late submission, and gives a file the student uploaded again under the
same name a `-1`, `-2`, ... suffix (`a2_code-1.ipynb`). A student's files form one submission
(a notebook and a module, say, or a notebook and its write-up), graded together under their
original names. Of several
submissions (different submission ids) the highest id is the latest; of a name uploaded again,
the highest suffix is. What is not graded is listed as earlier. The download carries no
submission times, so a late penalty needs a time from elsewhere; the `LATE` marker is recorded.

The student id is Canvas's user id (the gradebook's `ID` column), the name the lowercase
`lastfirst` Canvas wrote.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from grader.ingest.layouts.base import Entry, Found, layout
from grader.ingest.origin import Earlier, Origin

CANVAS_NAME = re.compile(
    r"^(?:(?P<name>[^_]+?)(?:[-_](?P<late>(?i:late)))?_)?"
    r"(?P<user>\d+|anon_[A-Za-z0-9]+)_(?P<attachment>\d+)_(?P<file>.+)$")
RESUBMITTED = re.compile(r"^(?P<base>.+?)-(?:\d+|[0-9a-f]{8}-[0-9a-f-]{27})(?P<suffix>\.[^.]+)?$")


def _original(name: str) -> str:
    """'a2_code.ipynb' for 'a2_code-1.ipynb': the name before Canvas's rename."""
    match = RESUBMITTED.match(name)
    return match.group("base") + (match.group("suffix") or "") if match else name


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_file() and not p.name.startswith("."))


def detect(root: Path) -> str | None:
    files = _files(root)
    matching = [p for p in files if CANVAS_NAME.match(p.name)]
    if len(matching) >= 1 and len(matching) >= len(files) / 2 and not any(
            p.is_dir() for p in root.iterdir() if not p.name.startswith(".")):
        return (f"{len(matching)} of {len(files)} file names follow Canvas's "
                "name_userid_attachmentid_file pattern")
    return None


@layout("canvas", help="Canvas/Quercus download: lastfirst[_LATE]_userid_attachmentid_file",
        detect=detect)
def read(root: Path, student_pattern: str | None) -> Found:
    by_user: dict[str, list[tuple[re.Match[str], Path]]] = defaultdict(list)
    ignored: list[tuple[Path, str]] = []
    for path in _files(root):
        match = CANVAS_NAME.match(path.name)
        if match is None:
            entry = path.name.endswith(("_text.html", "_link.html"))
            ignored.append((path, "a text or URL entry, not code" if entry
                            else "not a Canvas submission file name"))
        else:
            by_user[match.group("user")].append((match, path))
    ignored += [(p, "folder inside a Canvas download") for p in sorted(root.iterdir())
                if p.is_dir() and not p.name.startswith(".")]
    entries: list[Entry] = []
    notes: list[str] = []
    for user in sorted(by_user, key=lambda u: (not u.isdigit(), int(u) if u.isdigit() else 0,
                                               u)):
        newest: dict[str, tuple[int, Path]] = {}
        earlier: list[Earlier] = []
        for match, path in sorted(by_user[user], key=lambda mp: int(mp[0].group("attachment"))):
            original = _original(match.group("file"))
            if original in newest:   # the same name uploaded again: the newer one counts
                earlier.append(Earlier(path=str(newest[original][1]),
                                       lms_id=str(newest[original][0])))
            newest[original] = (int(match.group("attachment")), path)
        name = by_user[user][0][0].group("name")
        late = any(bool(m.group("late")) or (m.group("name") or "").lower() == "late"
                   for m, _ in by_user[user])
        origin = Origin(layout="canvas",
                        name=None if (name or "").lower() == "late" else name,
                        lms_id=str(max(n for n, _ in newest.values())), lms_late=late,
                        earlier=earlier)
        if earlier:
            notes.append(f"{user}: {len(earlier)} earlier upload(s) of the same file name not "
                         "graded")
        names = tuple(sorted(newest))
        entries.append(Entry(student=user, paths=tuple(newest[n][1] for n in names),
                             origin=origin, names=names))
    return Found("canvas", entries, ignored=ignored, notes=notes)

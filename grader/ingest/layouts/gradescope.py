"""Gradescope's "Download Submissions" export: a folder per active submission and a
`submission_metadata.yml` describing them.

The metadata maps each folder name (`submission_<id>`) to its submitters (`:name:`, `:sid:`,
`:email:`), its time (`:created_at:`) and its earlier submissions (`:history:`, each with
`:id:` and `:created_at:`). Keys are written Ruby-style with a leading colon. Only the active
(latest) submission has a folder; the history is recorded as earlier. A group submission is
graded once per member, each under their own id.

The student id is the `:sid:` (the student id the course gave Gradescope), else the email's
user part, else the name.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from grader.ingest.layouts.base import Entry, Found, layout
from grader.ingest.origin import Earlier, Origin
from grader.ingest.problems import IngestError, Problem

METADATA = "submission_metadata.yml"


def _root(folder: Path) -> Path | None:
    """The folder holding the metadata: `folder` itself or its single sub-folder."""
    if (folder / METADATA).is_file():
        return folder
    subs = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
    if len(subs) == 1 and (subs[0] / METADATA).is_file():
        return subs[0]
    return None


def detect(folder: Path) -> str | None:
    root = _root(folder)
    return f"{(root / METADATA).relative_to(folder.parent)} is present" if root else None


def _get(record: dict[str, Any], key: str) -> Any:
    """A metadata value, whether the key is written `:key` (Gradescope) or `key`."""
    return record.get(f":{key}", record.get(key))


def _time(value: Any) -> str | None:
    """ISO 8601 with offset: YAML may already have parsed the timestamp, or left text."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value).strip()
    for candidate in (text, text.replace(" ", "T", 1)):
        try:
            return datetime.fromisoformat(candidate).isoformat()
        except ValueError:
            continue
    try:   # Ruby's "2023-03-10 16:59:01.123456789 -0500"
        stamp, zone = text.rsplit(" ", 1)
        date, clock = stamp.split(" ", 1)
        clock = clock.split(".")[0]
        return datetime.fromisoformat(f"{date}T{clock}{zone[:3]}:{zone[-2:]}").isoformat()
    except ValueError:
        return text


def _student(submitter: dict[str, Any]) -> str | None:
    sid = _get(submitter, "sid")
    if sid not in (None, ""):
        return str(sid)
    email = _get(submitter, "email")
    if email:
        return str(email).split("@", 1)[0]
    name = _get(submitter, "name")
    return str(name) if name else None


@layout("gradescope", help="Gradescope export: submission_<id>/ folders and "
                           "submission_metadata.yml", detect=detect)
def read(folder: Path, student_pattern: str | None) -> Found:
    root = _root(folder)
    if root is None:
        raise IngestError(Problem("corrupt", f"{folder}: no {METADATA} (not a Gradescope "
                                             "export)"))
    try:
        metadata = yaml.safe_load((root / METADATA).read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise IngestError(Problem("corrupt", f"{root / METADATA}: not readable YAML "
                                             f"({exc})")) from None
    if not isinstance(metadata, dict):
        raise IngestError(Problem("corrupt", f"{root / METADATA}: expected a mapping of "
                                             "submission folders"))
    entries: list[Entry] = []
    ignored: list[tuple[Path, str]] = []
    notes: list[str] = []
    listed = set()
    for key in sorted(metadata, key=str):
        record = metadata[key] if isinstance(metadata[key], dict) else {}
        path = root / str(key)
        listed.add(path.name)
        if not path.is_dir():
            notes.append(f"{key}: listed in {METADATA} but its folder is missing")
            continue
        lms_id = str(key).removeprefix("submission_")
        earlier = [Earlier(path=f"{key} (history)", submitted_at=_time(_get(h, "created_at")),
                           lms_id=str(_get(h, "id")) if _get(h, "id") is not None else None)
                   for h in _get(record, "history") or () if isinstance(h, dict)]
        submitters = [s for s in _get(record, "submitters") or () if isinstance(s, dict)]
        if not submitters:
            notes.append(f"{key}: no submitters in {METADATA}; graded under the folder name")
            submitters = [{":name": None, ":sid": str(key)}]
        for submitter in submitters:
            student = _student(submitter) or str(key)
            origin = Origin(layout="gradescope", name=_get(submitter, "name"),
                            submitted_at=_time(_get(record, "created_at")), lms_id=lms_id,
                            earlier=list(earlier))
            entries.append(Entry(student=student, paths=(path,), origin=origin))
        if len(submitters) > 1:
            notes.append(f"{key}: a group submission, graded once per member "
                         f"({', '.join(e.student for e in entries[-len(submitters):])})")
    for path in sorted(root.iterdir()):
        if path.name != METADATA and path.name not in listed and not path.name.startswith("."):
            ignored.append((path, f"not listed in {METADATA}"))
    return Found("gradescope", entries, ignored=ignored, notes=notes)

"""MarkUs: staff download one folder per group, named by the group (for an individual
assignment, the student's user name), holding the collected files with the assignment's
repository folder already stripped. The zip carries no times and no member lists.

Submission times come from MarkUs's submissions summary (Submissions → "Download summary",
`<assignment>_submissions.csv`: `Group`, `Submission Date`, `Grace Credits Used`, ...): put
it beside the group folders. MarkUs writes its dates like `Friday, March 10, 2023, 04:59:01
PM EST`; the zone abbreviations used in North America and UTC/GMT are understood, others leave
the time unknown (and say so). With the summary the layout is detected; without it a MarkUs
download reads the same as a plain class folder of folders.
"""

from __future__ import annotations

import csv
from datetime import datetime, timedelta, timezone
from pathlib import Path

from grader.ingest.layouts.base import Entry, Found, layout
from grader.ingest.origin import Origin

SUMMARY_GLOB = "*_submissions.csv"
ZONES = {"UTC": 0.0, "GMT": 0.0, "EST": -5.0, "EDT": -4.0, "CST": -6.0, "CDT": -5.0,
         "MST": -7.0, "MDT": -6.0, "PST": -8.0, "PDT": -7.0, "AST": -4.0, "ADT": -3.0,
         "NST": -3.5, "NDT": -2.5, "AKST": -9.0, "AKDT": -8.0, "HST": -10.0}


def _visible(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith(".")
                  and p.name not in ("__MACOSX", "__pycache__"))


def _summary(root: Path) -> Path | None:
    for path in sorted(root.glob(SUMMARY_GLOB)):
        with open(path, newline="", encoding="utf-8-sig") as handle:
            header = next(csv.reader(handle), [])
        if {"Group", "Submission Date"} <= {h.strip() for h in header}:
            return path
    return None


def markus_time(text: str) -> str | None:
    """ISO 8601 of a MarkUs date (its default English format, or ISO), or None."""
    text = text.strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
        return moment.isoformat() if moment.tzinfo else None
    except ValueError:
        pass
    stamp, _, zone = text.rpartition(" ")
    if zone.upper() not in ZONES:
        return None
    try:
        moment = datetime.strptime(stamp, "%A, %B %d, %Y, %I:%M:%S %p")
    except ValueError:
        return None
    offset = timezone(timedelta(hours=ZONES[zone.upper()]))
    return moment.replace(tzinfo=offset).isoformat()


def detect(root: Path) -> str | None:
    summary = _summary(root)
    if summary and any(p.is_dir() for p in _visible(root)):
        return f"group folders beside MarkUs's submissions summary {summary.name}"
    return None


@layout("markus", help="MarkUs download: one folder per group (the user name for an "
                       "individual assignment), with <assignment>_submissions.csv beside them "
                       "for submission times", detect=detect)
def read(root: Path, student_pattern: str | None) -> Found:
    summary = _summary(root)
    times: dict[str, str | None] = {}
    notes: list[str] = []
    if summary is None:
        notes.append(f"no MarkUs submissions summary ({SUMMARY_GLOB}) beside the group "
                     "folders: submission times unknown")
    else:
        with open(summary, newline="", encoding="utf-8-sig") as handle:
            for row in csv.DictReader(handle):
                row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
                group, when = row.get("Group", ""), row.get("Submission Date", "")
                if group:
                    times[group] = markus_time(when)
                    if when and times[group] is None:
                        notes.append(f"{group}: submission date {when!r} not understood; "
                                     "time unknown")
    entries: list[Entry] = []
    ignored: list[tuple[Path, str]] = []
    for group in _visible(root):
        if not group.is_dir():
            if group != summary:
                ignored.append((group, "not a group folder"))
            continue
        if not any(group.iterdir()):
            notes.append(f"{group.name}: nothing collected (an empty group folder)")
        if summary is not None and group.name not in times:
            notes.append(f"{group.name}: not in {summary.name}; time unknown")
        entries.append(Entry(student=group.name, paths=(group,),
                             origin=Origin(layout="markus", submitted_at=times.get(group.name))))
    return Found("markus", entries, ignored=ignored, notes=notes)

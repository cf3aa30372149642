"""Late policy: a rubric's deadline and penalty, per-student extensions, and the penalty line.

The penalty is never folded silently into the score: it is an `Adjustment` of kind `late` on the
result, shown in every report and export beside the points the checks earned. It is computed
after grading, from the submission time the download layout gave (`Origin.submitted_at`), so a
changed deadline or extension is applied by the next `grader grade` without regrading anything.

    late:
      deadline: "2023-03-10T17:00:00-05:00"   # ISO 8601 with its UTC offset
      per: day                                # day | hour: a started unit counts in full
      penalty: 10                             # percent per unit late
      of: score                               # score (what was earned) | max (the rubric's points)
      cap: 30                                 # at most this percent in all
      zero_after: 3                           # later than this many units: no credit (optional)
      grace_hours: 0.25                       # late by at most this much: no penalty (upload lag)
      grace_units: 0                          # units everyone may use for free
      extensions: extensions.csv              # student,days|hours|deadline[,reason] (optional)
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from grader.result import Adjustment, Result

UNITS = {"day": 86400.0, "hour": 3600.0}
BASES = ("score", "max")
KEYS = {
    "deadline": "ISO 8601 time with its UTC offset (required)",
    "per": "`day` (default) or `hour`: a started unit counts in full",
    "penalty": "percent per unit late (default 10)",
    "of": "`score` (default: of the points earned) or `max` (of the rubric's points)",
    "cap": "at most this percent in all (default 100)",
    "zero_after": "later than this many units: no credit (optional)",
    "grace_hours": "late by at most this many hours: no penalty (upload lag; default 0)",
    "grace_units": "units late that cost nothing, for everyone (default 0)",
    "extensions": "CSV beside the rubric: `student` and one of `days`, `hours`, `deadline`, "
                  "optional `reason` (`grader grade --extensions` overrides it)",
}


class LateError(ValueError):
    """A late policy or extensions file that cannot be used, with the reason."""


def parse_time(text: Any, what: str) -> datetime:
    """An ISO 8601 time with its UTC offset (a time without one is ambiguous: refused)."""
    if isinstance(text, datetime):
        moment = text
    else:
        try:
            moment = datetime.fromisoformat(str(text).strip().replace("Z", "+00:00"))
        except ValueError:
            raise LateError(f"{what} {text!r} is not an ISO 8601 time such as "
                            "2023-03-10T17:00:00-05:00") from None
    if moment.tzinfo is None:
        raise LateError(f"{what} {text!r} has no UTC offset (write e.g. -05:00 for Toronto "
                        "in winter)")
    return moment


@dataclass(frozen=True)
class Extension:
    """One student's extension: a new deadline, or extra time on the rubric's."""

    student: str
    deadline: datetime | None = None
    extra: timedelta = timedelta(0)
    reason: str = ""

    def deadline_for(self, base: datetime) -> datetime:
        return self.deadline or base + self.extra

    def describe(self) -> str:
        if self.deadline is not None:
            text = f"extended to {self.deadline.isoformat(timespec='minutes')}"
        else:
            hours = self.extra.total_seconds() / 3600
            text = (f"extension +{hours / 24:g} day(s)" if hours % 24 == 0
                    else f"extension +{hours:g} hour(s)")
        return text + (f" ({self.reason})" if self.reason else "")


def read_extensions(path: Path) -> dict[str, Extension]:
    """Extensions by lower-cased student id, from a CSV with a `student` column and one of
    `days`, `hours` or `deadline` per row (an optional `reason` is shown in the report)."""
    path = Path(path)
    if not path.is_file():
        raise LateError(f"extensions file {path} does not exist")
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = {c.strip().lower() for c in reader.fieldnames or ()}
        if "student" not in columns or not columns & {"days", "hours", "deadline"}:
            raise LateError(f"{path}: needs a 'student' column and one of 'days', 'hours', "
                            f"'deadline' (found: {', '.join(sorted(columns)) or 'nothing'})")
        out: dict[str, Extension] = {}
        for number, raw in enumerate(reader, start=2):
            row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
            student = row.get("student", "")
            if not student:
                continue
            where = f"{path}:{number}"
            try:
                if row.get("deadline"):
                    ext = Extension(student, deadline=parse_time(row["deadline"], where),
                                    reason=row.get("reason", ""))
                else:
                    extra = (timedelta(days=float(row["days"])) if row.get("days")
                             else timedelta(hours=float(row.get("hours") or 0)))
                    ext = Extension(student, extra=extra, reason=row.get("reason", ""))
            except ValueError as exc:
                raise LateError(f"{where}: {exc}") from None
            if student.lower() in out:
                raise LateError(f"{where}: a second extension for {student}")
            out[student.lower()] = ext
    return out


@dataclass(frozen=True)
class LatePolicy:
    deadline: datetime
    per: str = "day"
    penalty: float = 10.0          # percent per unit
    of: str = "score"
    cap: float = 100.0             # percent
    zero_after: float | None = None
    grace_hours: float = 0.0
    grace_units: int = 0
    extensions_file: Path | None = None
    extensions: dict[str, Extension] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, data: dict[str, Any], base: Path | None = None) -> LatePolicy:
        """Read the rubric's `late` mapping; raises LateError naming the key at fault."""
        unknown = sorted(set(data) - set(KEYS))
        if unknown:
            raise LateError(f"unknown key '{unknown[0]}'; allowed: {', '.join(sorted(KEYS))}")
        if "deadline" not in data:
            raise LateError("needs a 'deadline'")
        per = str(data.get("per", "day"))
        if per not in UNITS:
            raise LateError(f"'per' must be day or hour, not {per!r}")
        of = str(data.get("of", "score"))
        if of not in BASES:
            raise LateError(f"'of' must be score or max, not {of!r}")
        numbers: dict[str, float] = {}
        for key in ("penalty", "cap", "zero_after", "grace_hours", "grace_units"):
            value = data.get(key)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise LateError(f"'{key}' must be a number of 0 or more, not {value!r}")
            numbers[key] = float(value)
        extensions_file = None
        extensions: dict[str, Extension] = {}
        if data.get("extensions"):
            extensions_file = Path(str(data["extensions"]))
            if base is not None and not extensions_file.is_absolute():
                extensions_file = base / extensions_file
            extensions = read_extensions(extensions_file)
        return cls(deadline=parse_time(data["deadline"], "deadline"), per=per,
                   penalty=numbers.get("penalty", 10.0), of=of,
                   cap=min(100.0, numbers.get("cap", 100.0)),
                   zero_after=numbers.get("zero_after"),
                   grace_hours=numbers.get("grace_hours", 0.0),
                   grace_units=int(numbers.get("grace_units", 0)),
                   extensions_file=extensions_file, extensions=extensions)

    def with_extensions(self, path: Path) -> LatePolicy:
        """The same policy with another extensions file (`grader grade --extensions`)."""
        return replace(self, extensions_file=Path(path), extensions=read_extensions(path))

    def adjustment(self, student: str, submitted_at: datetime, score: float,
                   max_score: float) -> Adjustment | None:
        """The late penalty of one submission, or None when it was on time."""
        extension = self.extensions.get(student.lower())
        deadline = extension.deadline_for(self.deadline) if extension else self.deadline
        late_s = (submitted_at - deadline).total_seconds()
        if late_s <= self.grace_hours * 3600:
            return None
        unit = UNITS[self.per]
        units = math.ceil(late_s / unit)
        charged = max(0, units - self.grace_units)
        zero = self.zero_after is not None and units > self.zero_after
        percent = 100.0 if zero else min(self.cap, charged * self.penalty)
        base = score if self.of == "score" else max_score
        points = -min(score, round(base * percent / 100, 6))
        plural = "s" if units != 1 else ""
        how_late = f"{_duration(late_s)} late ({units} {self.per}{plural} started)"
        if zero:
            rule = f"later than {self.zero_after:g} {self.per}s: no credit"
        elif charged == 0:
            rule = f"within the {self.grace_units} free {self.per}(s): no penalty"
        else:
            rule = (f"{charged} {self.per}{'s' if charged != 1 else ''} × {self.penalty:g} % of "
                    f"{'the points earned' if self.of == 'score' else 'the rubric points'}"
                    + (f", capped at {self.cap:g} %" if charged * self.penalty > self.cap
                       else ""))
        reason = (f"submitted {how_late} after the deadline "
                  f"{deadline.isoformat(timespec='minutes')}"
                  + (f" ({extension.describe()})" if extension else "") + f": {rule}")
        return Adjustment(kind="late", points=points, reason=reason, details={
            "deadline": deadline.isoformat(), "submitted_at": submitted_at.isoformat(),
            "hours_late": round(late_s / 3600, 2), "grace_hours": self.grace_hours,
            "extension": extension.describe() if extension else None,
            "units_charged": charged, "percent": percent})


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [f"{days} d" if days else "", f"{hours} h" if hours else "",
             f"{mins} min" if mins and not days else ""]
    return " ".join(p for p in parts if p) or f"{int(seconds)} s"


def apply_late(result: Result, policy: LatePolicy | None) -> Result:
    """The result with its late line recomputed (other adjustments kept; a penalty "of the
    score" is of the points after staff overrides). A result with no submission time gets no
    penalty; if the LMS said it was late, the line says a TA decides."""
    kept = [a for a in result.adjustments if a.kind != "late"]
    late: Adjustment | None = None
    origin = result.submission.origin
    if policy is not None and result.status != "internal":
        if origin.submitted_at:
            when = parse_time(origin.submitted_at, "submitted_at")
            earned = result.score + sum(a.points for a in kept if a.kind == "override")
            late = policy.adjustment(result.student, when, earned, result.max_score)
        elif origin.lms_late:
            late = Adjustment(kind="late", points=0.0, reason=(
                f"{origin.layout} marked this submission late but gave no submission time: "
                "no penalty computed; a TA decides"), details={"needs_review": True})
    return replace(result, adjustments=[*kept, late] if late else kept)

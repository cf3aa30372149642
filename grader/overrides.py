"""Course staff overrides: a TA's change to one question or check, kept in a file beside the
output so every regrade applies it again.

`DIR/overrides.yaml` (or `.csv` with the same columns, or `grader grade --overrides FILE`):

    - student: alice
      target: "4.1"                 # a question, "4.1/architecture" for one check, or "total"
      points: 0.5                   # what it is worth now (set), or `delta: +0.25` (a change)
      reason: BN after ReLU is accepted this term (forum post 212)
      by: ta-lee
      at: 2023-03-20

An override never rewrites a check's verdict: it is an `Adjustment` of kind `override` on the
result, shown as "adjusted by course staff: reason" beside the points the checks gave, and
`final_score` includes it. `points` sets the target's value, so after a regrade that changes
what the checks gave the adjustment is recomputed to still land on the TA's value; `delta` is
added as it is. An override whose student or target no longer exists (the rubric changed, the
student left the class) is reported, never dropped silently.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from grader.result import Adjustment, Result

FILENAMES = ("overrides.yaml", "overrides.yml", "overrides.csv")
TOTAL = "total"


class OverrideError(ValueError):
    """An overrides file that cannot be used, with the entry at fault."""


@dataclass(frozen=True)
class Override:
    student: str
    target: str                  # question id, "question/check", or "total"
    reason: str
    points: float | None = None  # set the target to this
    delta: float | None = None   # or change it by this
    by: str | None = None
    at: str | None = None
    where: str = ""              # file:entry, for messages

    @property
    def question(self) -> str:
        return self.target.split("/", 1)[0]

    @property
    def check(self) -> str | None:
        return self.target.split("/", 1)[1] if "/" in self.target else None


def _number(value: Any, key: str, where: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise OverrideError(f"{where}: '{key}' must be a number, not {value!r}") from None


def _override(raw: dict[str, Any], where: str) -> Override:
    raw = {str(k).strip().lower(): v for k, v in raw.items()}
    unknown = sorted(set(raw) - {"student", "target", "points", "delta", "reason", "by", "at"})
    if unknown:
        raise OverrideError(f"{where}: unknown key '{unknown[0]}'")
    student, target = str(raw.get("student") or "").strip(), str(raw.get("target") or "").strip()
    reason = str(raw.get("reason") or "").strip()
    if not student or not target:
        raise OverrideError(f"{where}: needs 'student' and 'target'")
    if not reason:
        raise OverrideError(f"{where}: needs a 'reason' (the student reads it)")
    points, delta = _number(raw.get("points"), "points", where), _number(raw.get("delta"),
                                                                          "delta", where)
    if (points is None) == (delta is None):
        raise OverrideError(f"{where}: give exactly one of 'points' (set) or 'delta' (change)")
    at = raw.get("at")
    return Override(student=student, target=target, reason=reason, points=points, delta=delta,
                    by=str(raw["by"]) if raw.get("by") else None,
                    at=str(at) if at not in (None, "") else None, where=where)


def read_overrides(path: Path) -> list[Override]:
    """Every override in a YAML list or a CSV with the same columns."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        with open(path, newline="", encoding="utf-8-sig") as handle:
            return [_override(row, f"{path}:{n}") for n, row in
                    enumerate(csv.DictReader(handle), start=2) if any(row.values())]
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    except yaml.YAMLError as exc:
        raise OverrideError(f"{path}: not readable YAML ({exc})") from None
    if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
        raise OverrideError(f"{path}: expected a list of overrides (- student: ..., ...)")
    return [_override(d, f"{path}: entry {n}") for n, d in enumerate(data, start=1)]


def find_overrides(out: Path, given: str | Path | None = None) -> Path | None:
    """The overrides file: the one given, else the first of FILENAMES in the output folder."""
    if given is not None:
        if not Path(given).is_file():
            raise OverrideError(f"overrides file {given} does not exist")
        return Path(given)
    return next((out / n for n in FILENAMES if (out / n).is_file()), None)


def _current(result: Result, override: Override) -> float | None:
    """What the checks (and earlier overrides) give the target now; None: no such target."""
    if override.target == TOTAL:
        return result.score
    question = result.question(override.question)
    if question is None:
        return None
    if override.check is None:
        return question.score
    check = next((c for c in question.checks if c.id == override.check), None)
    return None if check is None else check.score


def adjustment(result: Result, override: Override) -> Adjustment:
    """The override as an adjustment of this result (0 points and flagged when its target no
    longer exists)."""
    current = _current(result, override)
    details: dict[str, Any] = {"set_to": override.points, "delta": override.delta,
                               "source": override.where}
    if current is None:
        details["orphaned"] = True
        reason = (f"{override.reason} [not applied: {result.rubric.id or 'the rubric'} has no "
                  f"{override.target!r}; a TA should update or remove this override]")
        return Adjustment(kind="override", points=0.0, reason=reason, target=override.target,
                          by=override.by, at=override.at, details=details)
    points = override.delta if override.points is None else override.points - current
    details["checks_gave"] = current
    return Adjustment(kind="override", points=round(float(points), 6), reason=override.reason,
                      target=override.target, by=override.by, at=override.at, details=details)


def apply_overrides(result: Result, overrides: list[Override]) -> Result:
    """The result with its staff overrides recomputed from the file (other adjustments kept)."""
    kept = [a for a in result.adjustments if a.kind != "override"]
    latest: dict[str, Override] = {}   # a later entry for the same target replaces an earlier
    for o in overrides:
        if o.student.casefold() == result.student.casefold():
            latest.pop(o.target, None)
            latest[o.target] = o
    return replace(result, adjustments=[adjustment(result, o) for o in latest.values()] + kept)


def unknown_students(overrides: list[Override], students: list[str]) -> list[Override]:
    """Overrides naming nobody in this class: reported by the batch."""
    known = {s.casefold() for s in students}
    return [o for o in overrides if o.student.casefold() not in known]


def add_override(out: Path, stored: Result, *, target: str, reason: str,
                 points: float | None = None, delta: float | None = None,
                 by: str | None = None) -> tuple[Path, Adjustment]:
    """Append one override to the output folder's overrides file (YAML, created if needed)
    after checking it against the student's stored result; returns the file and what it does
    to that result now."""
    from datetime import datetime, timezone

    student = stored.student
    entry = {"student": student, "target": target, "reason": reason, "by": by,
             "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    entry.update({"points": points} if points is not None else {"delta": delta})
    override = _override(entry, "new override")
    change = adjustment(stored, override)
    if change.details.get("orphaned"):
        raise OverrideError(f"{student} has no {target!r}: questions are "
                            + ", ".join(q.id for q in stored.questions))
    path = find_overrides(out) or out / FILENAMES[0]
    if path.suffix == ".csv":
        columns = ["student", "target", "points", "delta", "reason", "by", "at"]
        new = not path.exists() or path.stat().st_size == 0
        with open(path, "a", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            if new:
                writer.writeheader()
            writer.writerow({k: entry.get(k, "") for k in columns})
    else:
        if path.exists():
            read_overrides(path)   # refuse to append to a file that no longer reads
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(yaml.safe_dump([{k: v for k, v in entry.items() if v is not None}],
                                        sort_keys=False, allow_unicode=True))
    return path, change

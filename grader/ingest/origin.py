"""Where a submission came from: the records a download layout fills in (who, when, which
attempt), carried unchanged into the graded result (`SubmissionInfo.origin`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Earlier:
    """An earlier submission of the same student that was not graded (the latest one was)."""

    path: str
    submitted_at: str | None = None    # ISO 8601 with its UTC offset, when the LMS says
    lms_id: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Earlier:
        return cls(path=str(data.get("path") or ""), submitted_at=data.get("submitted_at"),
                   lms_id=data.get("lms_id"))


@dataclass
class Origin:
    """Where a submission came from: the download layout it was read from and what that
    layout says about it (who, when, whether the LMS called it late, earlier attempts)."""

    layout: str = "folder"
    name: str | None = None            # the student's name, where the LMS gives it
    submitted_at: str | None = None    # ISO 8601 with its UTC offset
    lms_id: str | None = None          # the LMS's own submission id
    lms_late: bool | None = None       # the LMS marked it late (Canvas's LATE)
    earlier: list[Earlier] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Origin:
        data = data or {}
        late = data.get("lms_late")
        return cls(layout=str(data.get("layout") or "folder"), name=data.get("name"),
                   submitted_at=data.get("submitted_at"), lms_id=data.get("lms_id"),
                   lms_late=None if late is None else bool(late),
                   earlier=[Earlier.from_dict(e) for e in data.get("earlier") or ()])

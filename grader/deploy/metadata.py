"""What Gradescope says about a submission: `/autograder/submission_metadata.json`.

Gradescope documents the file ("Submission Metadata"): the submission's `id` and `created_at`
(ISO 8601 with its UTC offset), the `assignment` (`title`, `due_date`, `late_due_date`, ...),
the `users` who submitted it (`email`, `id`, `name`, and `sid` where the course roster has one)
and the `previous_submissions`. The grader takes who and when from it: the student id for the
record and the late policy, the name for the staff, the time for the late penalty.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.result import Origin

METADATA_NAME = "submission_metadata.json"
LAYOUT = "gradescope"


def _text(value: Any) -> str | None:
    """A non-empty string from a JSON value that may be a number, null or missing."""
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    text = str(value).strip()
    return text or None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


@dataclass(frozen=True)
class Submitter:
    """One of the users a submission belongs to (several for a group submission)."""

    user_id: str | None = None
    name: str | None = None
    email: str | None = None
    sid: str | None = None

    @property
    def student_id(self) -> str | None:
        """The roster's student id, else the email's local part, else Gradescope's user id:
        the first is what course lists and extension files use."""
        local = self.email.split("@", 1)[0] if self.email else None
        return self.sid or local or self.user_id

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Submitter:
        return cls(user_id=_text(data.get("id")), name=_text(data.get("name")),
                   email=_text(data.get("email")), sid=_text(data.get("sid")))


@dataclass(frozen=True)
class SubmissionMetadata:
    """The parts of submission_metadata.json the grader uses."""

    submission_id: str | None = None
    created_at: str | None = None
    users: tuple[Submitter, ...] = ()
    assignment_title: str | None = None
    due_date: str | None = None
    late_due_date: str | None = None
    previous_submissions: int = 0

    @property
    def student(self) -> str | None:
        """The first submitter's id (a group is recorded under its first member)."""
        return next((u.student_id for u in self.users if u.student_id), None)

    @property
    def names(self) -> str | None:
        names = [u.name for u in self.users if u.name]
        return ", ".join(names) or None

    def origin(self) -> Origin:
        return Origin(layout=LAYOUT, name=self.names, submitted_at=self.created_at,
                      lms_id=self.submission_id)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SubmissionMetadata:
        """Fields of the wrong type read as absent: the file is Gradescope's, not ours, and a
        change in it must cost a detail, never the student's grade."""
        assignment = _mapping(data.get("assignment"))
        return cls(submission_id=_text(data.get("id")), created_at=_text(data.get("created_at")),
                   users=tuple(Submitter.from_dict(_mapping(u)) for u in _list(data.get("users"))),
                   assignment_title=_text(assignment.get("title")),
                   due_date=_text(assignment.get("due_date")),
                   late_due_date=_text(assignment.get("late_due_date")),
                   previous_submissions=len(_list(data.get("previous_submissions"))))

    @classmethod
    def read(cls, path: Path) -> SubmissionMetadata:
        """Raises OSError or ValueError when the file is missing or is not a JSON object."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(data, Mapping):
            raise ValueError(f"{path}: expected a JSON object, found {type(data).__name__}")
        return cls.from_dict(data)

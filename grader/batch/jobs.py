"""What the batch engine hands to a grading worker, and what comes back.

A job carries the submission's bytes, not just its path, so the same job runs unchanged on a
local process or on a Dask worker on another machine with no shared file system.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from grader.result import Result, RubricInfo, SubmissionInfo


@dataclass(frozen=True)
class Job:
    student: str
    name: str            # the submission's file or folder name, kept so ingest sees the same name
    payload: bytes       # the file's bytes, or a zip of the folder
    is_folder: bool
    key: str
    source: str          # the original path, for the record
    rubric: RubricInfo | None = None   # for a result row even when no grader could be built


@dataclass
class Graded:
    result: Result
    artifacts: dict[str, bytes] = field(default_factory=dict)


def _zip_folder(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.is_symlink():
                archive.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


def read_payload(path: Path) -> tuple[bytes, bool]:
    """The bytes that identify a submission: the file, or a deterministic zip of the folder."""
    if path.is_dir():
        return _zip_folder(path), True
    return path.read_bytes(), False


def content_hash(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


class Materialised:
    """A job's submission written to a private temporary folder for the grader to read."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.tmp = Path(tempfile.mkdtemp(prefix="grader-job-"))
        target = self.tmp / job.name
        if job.is_folder:
            target.mkdir()
            with zipfile.ZipFile(io.BytesIO(job.payload)) as archive:
                for info in archive.infolist():
                    dest = (target / info.filename).resolve()
                    if target.resolve() not in dest.parents:
                        continue  # our own zip never escapes; be strict anyway
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    dest.write_bytes(archive.read(info))
        else:
            target.write_bytes(job.payload)
        self.path = target

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def internal_failure(job: Job, message: str, exc: BaseException | None = None) -> Graded:
    """A result row for a submission the grader itself failed on: never blamed on the student."""
    submission = SubmissionInfo(path=job.source, kind="folder" if job.is_folder else "file",
                                sha256=content_hash(job.payload), files=[job.name])
    return Graded(Result.internal_failure(student=job.student, submission=submission,
                                          rubric=job.rubric or RubricInfo(id=""),
                                          message=message, exc=exc, key=job.key))

"""What the batch engine hands to a grading worker, and what comes back.

A job carries the submission's bytes, not just its path, so the same job runs unchanged on a
local process or on a Dask worker on another machine with no shared file system. A worker
holds one `JobGrader`: a warm pipeline `Grader` that writes each job's bytes to a private
temporary folder and grades them there.
"""

from __future__ import annotations

import io
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.ingest.submission import payload_hash
from grader.pipeline import Grader, Options
from grader.result import Graded, Origin, Result, RubricInfo, SubmissionInfo


@dataclass(frozen=True)
class Job:
    student: str
    name: str            # the submission's file or folder name, kept so ingest sees the same name
    payload: bytes       # the file's bytes, or a zip of the folder (grader.ingest.read_payload)
    is_folder: bool
    key: str
    source: str          # the original path, for the record
    rubric: RubricInfo | None = None   # for a result row even when no grader could be built
    origin: Origin = field(default_factory=Origin)   # what the download layout said
    writeup: tuple[str, bytes] | None = None   # (name, bytes) of a write-up given separately


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
        self.writeup: Path | None = None
        if job.writeup is not None:
            self.writeup = self.tmp / "writeup" / Path(job.writeup[0]).name
            self.writeup.parent.mkdir()
            self.writeup.write_bytes(job.writeup[1])

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


class JobGrader:
    """A warm pipeline `Grader` that grades batch jobs (what a worker holds)."""

    def __init__(self, grader: Grader) -> None:
        self.grader = grader

    def grade_job(self, job: Job) -> Graded:
        materialised = Materialised(job)
        with materialised as path:
            graded = self.grader.grade_path(path, student=job.student,
                                            writeup=materialised.writeup)
        graded.result.submission.path = job.source
        graded.result.submission.origin = job.origin
        graded.result.key = job.key
        return graded

    def close(self) -> None:
        self.grader.close()


@dataclass
class GraderFactory:
    """A picklable recipe for a worker's `JobGrader`, so workers (local or Dask) build their
    own warm grader."""

    rubric: str
    options: Options
    compiled: dict[str, Any] | None = None

    def __call__(self) -> JobGrader:
        return JobGrader(Grader(self.rubric, options=self.options, compiled=self.compiled))


def internal_failure(job: Job, message: str, exc: BaseException | None = None) -> Graded:
    """A result row for a submission the grader itself failed on: never blamed on the student."""
    submission = SubmissionInfo(path=job.source, kind="folder" if job.is_folder else "file",
                                sha256=payload_hash(job.payload), files=[job.name],
                                origin=job.origin)
    return Graded(Result.internal_failure(student=job.student, submission=submission,
                                          rubric=job.rubric or RubricInfo(id=""),
                                          message=message, exc=exc, key=job.key))

"""Test helpers for the batch engines: a real (if trivial) grader, a class of files, a batch run.

`HashGrader` grades a submission from the SHA-256 of its bytes, so any engine that moves the
bytes intact gets the same score, and behaves like a real grader in the ways the engines must
cope with: it is built once per worker (and logs that), it can be slow, it can raise, and a
submission containing `CRASH` kills the process grading it (a native crash, the OOM killer).

`python -m tests.batch_factory CLASS OUT` is a complete batch (discover, skip what is current,
grade, store, gradebook) used by the kill -9 test.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from grader.batch.jobs import Job
from grader.ingest.submission import payload_hash, read_payload
from grader.result import (
    CheckResult,
    Graded,
    QuestionResult,
    Result,
    RubricInfo,
    SubmissionInfo,
)

GRADER_VERSION = "hash-v1"
QUESTIONS = [("1", 2.0), ("2", 1.0), ("3", 0.5)]


def _append(path: str | None, line: str) -> None:
    """One O_APPEND write per line, so concurrent processes never interleave a line."""
    if not path:
        return
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


class HashGrader:
    """Scores a submission from its bytes; deterministic across processes and machines."""

    def __init__(self, delay: float = 0.0, log: str | None = None) -> None:
        self.delay, self.log, self.closed = delay, log, False
        _append(log, f"built {os.getpid()}")

    def grade_job(self, job: Job) -> Graded:
        if b"CRASH" in job.payload:
            os._exit(3)
        if b"RAISE" in job.payload:
            raise ValueError(f"cannot grade {job.student}")
        time.sleep(self.delay)
        digest = hashlib.sha256(job.payload).digest()
        questions = []
        for i, (qid, points) in enumerate(QUESTIONS):
            score = round(points * digest[i] / 255, 4)
            questions.append(QuestionResult(id=qid, title=f"question {qid}", score=score,
                                            max_score=points, checks=[CheckResult(
                                                id="hash", kind="hash",
                                                status="passed" if score == points else "failed",
                                                score=score, max_score=points)]))
        result = Result.graded(
            student=job.student,
            submission=SubmissionInfo(path=job.source,
                                      kind="folder" if job.is_folder else "file",
                                      sha256=payload_hash(job.payload)),
            rubric=RubricInfo(id="hash-rubric", max_score=sum(p for _, p in QUESTIONS)),
            questions=questions, problems=[], checks_mode="static", key=job.key)
        # A few hundred KB of artifacts, so a kill often lands in the middle of writing them.
        artifacts = {f"artifacts/blob{i}.bin": digest * 4096 for i in range(4)}
        import torch

        _append(self.log, f"graded {job.student} {os.getpid()} {torch.get_num_threads()}")
        return Graded(result, artifacts)

    def close(self) -> None:
        self.closed = True
        _append(self.log, f"closed {os.getpid()}")


@dataclass(frozen=True)
class HashFactory:
    """A picklable GraderFactory, as the engines require (spawned processes, Dask workers)."""

    delay: float = 0.0
    log: str | None = None

    def __call__(self) -> HashGrader:
        return HashGrader(self.delay, self.log)


@dataclass(frozen=True)
class BrokenFactory:
    """A factory whose grader cannot be built (a bad rubric, a missing data set)."""

    def __call__(self) -> HashGrader:
        raise OSError("rubric file vanished")


def make_files(folder: Path, n: int, special: dict[int, bytes] | None = None) -> list[Path]:
    """`n` submission files with distinct, messy contents; `special` replaces some contents."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        text = (f'{{"cells": [], "student": "s{i:03d}", "note": "naïve — {i * 7919 % 1000}"}}\n'
                .encode())
        data = (special or {}).get(i, text)
        path = folder / f"s{i:03d}.ipynb"
        path.write_bytes(data)
        paths.append(path)
    return paths


def job_for(path: Path) -> Job:
    payload, is_folder = read_payload(path)
    key = hashlib.sha256(payload + GRADER_VERSION.encode()).hexdigest()
    return Job(student=path.stem, name=path.name, payload=payload, is_folder=is_folder,
               key=key, source=str(path))


def results_by_student(pairs) -> dict[str, Result]:
    return {job.student: graded.result for job, graded in pairs}


def gradebook_text(results: list[Result]) -> str:
    from grader.reports.gradebook import gradebook_frame

    buffer = io.StringIO()
    gradebook_frame(results).to_csv(buffer, index=False)
    return buffer.getvalue()


def run_batch(class_dir: Path, out: Path, workers: int, delay: float, log: str | None,
              engine: str) -> int:
    """Discover, skip current results, grade the rest, store each, then write the gradebook."""
    from grader.batch.dask import make_pool
    from grader.batch.progress import Progress
    from grader.batch.store import ResultStore
    from grader.files import atomic_write_text

    store = ResultStore(out)
    jobs = [job_for(p) for p in sorted(class_dir.glob("*.ipynb"))]
    todo = [j for j in jobs if not store.is_current(j.student, j.key)]
    pool = make_pool(HashFactory(delay, log), workers=workers,
                     dask_address="local" if engine == "dask" else None)
    with Progress(len(jobs), done=len(jobs) - len(todo), quiet=True) as progress:
        for _job, graded in pool.run(todo):
            store.save(graded.result, graded.artifacts)
            progress.advance(graded.result)
    results = store.results([j.student for j in jobs])
    atomic_write_text(out / "gradebook.csv", gradebook_text(results))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="a batch with the hash grader")
    parser.add_argument("class_dir", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--log")
    parser.add_argument("--engine", choices=["local", "dask"], default="local")
    args = parser.parse_args(argv)
    return run_batch(args.class_dir, args.out, args.workers, args.delay, args.log, args.engine)


if __name__ == "__main__":
    sys.exit(main())

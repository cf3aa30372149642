"""Parallel grading on one machine with long-lived, warm worker processes.

Each worker process builds one `Grader` (rubric, expectations, data, warm sandbox) and grades
job after job. The parent always knows which job each worker holds, so when a worker dies
(a crash in native code, the OOM killer) that one job is retried once and then recorded as an
internal failure; the batch goes on with a fresh worker.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from multiprocessing.connection import Connection, wait
from typing import Any

from grader.batch.jobs import Job, internal_failure
from grader.result import Graded

WorkerFactory = Callable[[], Any]  # returns an object with .grade_job(job) -> Graded, .close()


def _exit_with_parent(parent: int) -> None:
    """A worker whose batch process died (even by SIGKILL) ends too, sandbox and all."""
    import threading
    import time

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(3)

    threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()


def limit_threads(threads: int) -> None:
    """Hold this worker's own torch work (the trusted-side replays) to its share of the cores.

    The environment variable alone comes too late: unpickling the worker's factory has already
    imported torch. Two workers each running two intra-op threads on two cores made every
    replay wait on descheduled threads: static checks took 4 s a file instead of 0.2 s.
    """
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    import torch

    torch.set_num_threads(max(1, threads))


def _worker_main(factory: WorkerFactory, conn: Connection, threads: int,
                 parent: int | None = None) -> None:
    if parent is not None:
        _exit_with_parent(parent)
    limit_threads(threads)
    grader = None
    try:
        grader = factory()
        conn.send(("ready", None))
        while True:
            job = conn.recv()
            if job is None:
                break
            try:
                graded = grader.grade_job(job)
            except BaseException as exc:  # never let one submission take the worker down
                graded = internal_failure(job, f"the grader failed: {exc!r}", exc=exc)
            conn.send(("done", graded))
    except (EOFError, KeyboardInterrupt):
        pass
    except BaseException as exc:
        try:
            conn.send(("failed", repr(exc)))
        except OSError:
            pass
    finally:
        if grader is not None:
            try:
                grader.close()
            except Exception:
                pass


class _Worker:
    def __init__(self, ctx, factory: WorkerFactory, threads: int) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main,
                                   args=(factory, child, threads, os.getpid()), daemon=True)
        self.process.start()
        child.close()
        self.job: Job | None = None
        self.ready = False


class LocalPool:
    """Run jobs on `workers` processes; yields (job, Graded) as each finishes."""

    def __init__(self, factory: WorkerFactory, workers: int = 1, threads: int = 1,
                 retries: int = 1) -> None:
        self.factory, self.workers, self.threads, self.retries = (
            factory, max(1, workers), threads, retries)
        self.ctx = mp.get_context("spawn")

    def run(self, jobs: Iterable[Job]) -> Iterator[tuple[Job, Graded]]:
        pending = deque(jobs)
        attempts: dict[str, int] = {}
        pool = [_Worker(self.ctx, self.factory, self.threads)
                for _ in range(min(self.workers, max(1, len(pending))))]
        try:
            while pending or any(w.job for w in pool):
                for w in pool:
                    if w.ready and w.job is None and pending:
                        w.job = pending.popleft()
                        w.conn.send(w.job)
                ready = wait([w.conn for w in pool] + [w.process.sentinel for w in pool])
                for i, w in enumerate(list(pool)):
                    if w.conn in ready:
                        try:
                            kind, payload = w.conn.recv()
                        except (EOFError, OSError):
                            kind, payload = "died", None
                        if kind == "ready":
                            w.ready = True
                            continue
                        if kind == "done":
                            job, w.job = w.job, None
                            yield job, payload
                            continue
                        if kind == "failed":
                            raise RuntimeError(f"a grading worker could not start: {payload}")
                    elif w.process.sentinel not in ready:
                        continue
                    # The worker is gone: retry its job once, then record an internal failure.
                    w.process.join(timeout=1)
                    if not w.ready:
                        raise RuntimeError("a grading worker died while starting "
                                           f"(exit code {w.process.exitcode})")
                    job = w.job
                    if job is not None:
                        attempts[job.key] = attempts.get(job.key, 0) + 1
                        if attempts[job.key] <= self.retries:
                            pending.appendleft(job)
                        else:
                            yield job, internal_failure(
                                job, f"the grading process died (exit code "
                                     f"{w.process.exitcode}) while grading this submission")
                    pool[i] = _Worker(self.ctx, self.factory, self.threads)
        finally:
            for w in pool:
                try:
                    w.conn.send(None)
                except OSError:
                    pass
            for w in pool:
                w.process.join(timeout=10)
                if w.process.is_alive():
                    w.process.kill()

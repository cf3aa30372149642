"""The Dask engine against real schedulers and workers on loopback, compared with LocalPool."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from grader.batch.dask import DaskPool, make_pool
from grader.batch.local import LocalPool
from tests.batch_factory import (
    BrokenFactory,
    HashFactory,
    HashGrader,
    job_for,
    make_files,
    results_by_student,
)

ROOT = Path(__file__).resolve().parents[1]
CRASH, RAISE = 3, 6


def _dask_cli() -> list[str]:
    exe = Path(sys.executable).with_name("dask")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "dask"]


def _log(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout} s for {what}")
        time.sleep(0.1)


def _stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


class Cluster:
    """`dask scheduler` and `dask worker` as separate processes, as a course would run them."""

    def __init__(self, tmp: Path, workers: int, allowed_failures: int) -> None:
        self.file = tmp / "scheduler.json"
        env = {**os.environ, "PYTHONPATH": str(ROOT),
               "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": str(allowed_failures)}
        common = {"cwd": tmp, "env": env, "start_new_session": True,
                  "stdout": subprocess.DEVNULL, "stderr": (tmp / "dask.log").open("ab")}
        self.procs = [subprocess.Popen(
            [*_dask_cli(), "scheduler", "--host", "127.0.0.1", "--port", "0",
             "--no-dashboard", "--scheduler-file", str(self.file)], **common)]
        try:
            _wait_for(self.file.exists, 60, "the scheduler file")
            self.address = json.loads(self.file.read_text())["address"]
            if workers:
                self.procs.append(subprocess.Popen(
                    [*_dask_cli(), "worker", self.address, "--nworkers", str(workers),
                     "--nthreads", "1", "--host", "127.0.0.1", "--no-dashboard",
                     "--memory-limit", "0", "--death-timeout", "60"], **common))
                from distributed import Client

                with Client(self.address, timeout=30) as client:
                    client.wait_for_workers(workers, timeout=90)
        except BaseException:
            _stop(self.procs)
            raise

    def close(self) -> None:
        _stop(self.procs)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Two single-threaded workers; the scheduler gives up on a job at its first worker death,
    so the client-side retry is what reruns it."""
    running = Cluster(tmp_path_factory.mktemp("cluster"), workers=2, allowed_failures=0)
    yield running
    running.close()


def _class(tmp_path: Path, n: int = 10) -> list:
    special = {CRASH: b"CRASH: this notebook takes its grader down",
               RAISE: b"RAISE: the grader has a bug on this one"}
    return [job_for(p) for p in make_files(tmp_path / "class", n, special)]


def _expected(jobs) -> dict:
    grader = HashGrader()
    return {j.student: grader.grade_job(j).result for j in jobs
            if j.student not in (f"s{CRASH:03d}", f"s{RAISE:03d}")}


def _assert_rows(results: dict, jobs, expected: dict) -> None:
    assert sorted(results) == sorted(j.student for j in jobs)
    for student, row in expected.items():
        assert results[student] == row, student
    for job in (jobs[CRASH], jobs[RAISE]):
        row = results[job.student]
        assert row.status == "internal" and row.error.kind == "internal"
        assert row.key == job.key and row.score == 0.0
    assert "died" in results[jobs[CRASH].student].error.message
    assert "cannot grade s006" in results[jobs[RAISE].student].error.message


def test_each_local_worker_holds_torch_to_its_share_of_the_cores(tmp_path):
    """Two workers on two cores, one torch thread each: a worker's own replays must not
    oversubscribe the machine (the env var alone comes after torch is imported)."""
    log = tmp_path / "local.log"
    jobs = _class(tmp_path)[:4]
    list(LocalPool(HashFactory(0.0, str(log)), workers=2, threads=1).run(jobs))
    graded = [e for e in _log(log) if e[0] == "graded"]
    assert graded and {e[3] for e in graded} == {"1"}


def test_local_cluster_matches_local_pool_and_keeps_graders_warm(tmp_path):
    jobs = _class(tmp_path)
    expected = _expected(jobs)
    local = results_by_student(LocalPool(HashFactory(0.02), workers=2).run(jobs))
    log = tmp_path / "dask.log"
    pool = DaskPool(HashFactory(0.02, str(log)), address="local", workers=2,
                    no_worker_timeout=60)
    pairs = list(pool.run(jobs))
    dasked = results_by_student(pairs)
    assert len(pairs) == len(jobs)  # every job exactly once, even the one retried
    _assert_rows(local, jobs, expected)
    _assert_rows(dasked, jobs, expected)
    assert pool.notes == []  # the local cluster retries exactly `retries` times
    assert "tried 2 times" in dasked[jobs[CRASH].student].error.message
    entries = _log(log)
    built = Counter(pid for word, pid, *_ in entries if word == "built")
    assert all(n == 1 for n in built.values())  # one warm grader per worker process
    # 2 workers, plus the replacements for the two crashes (first try and its retry).
    assert len(built) <= 4
    graded_by = Counter(e[2] for e in entries if e[0] == "graded")
    assert sum(graded_by.values()) >= len(expected) and max(graded_by.values()) > 1


def test_existing_cluster_same_results_and_client_side_retry(cluster, tmp_path):
    jobs = _class(tmp_path, n=9)
    log = tmp_path / "grading.log"
    pool = DaskPool(HashFactory(0.0, str(log)), address=cluster.address, no_worker_timeout=60)
    pairs = list(pool.run(jobs))
    assert len(pairs) == len(jobs)
    results = results_by_student(pairs)
    _assert_rows(results, jobs, _expected(jobs))
    # The scheduler fails a job at its first worker death; the client reran it once.
    assert "tried 2 times" in results[jobs[CRASH].student].error.message
    assert any("allowed-failures" in note for note in pool.notes)
    # The batch's graders are closed when it ends (on the workers that survived).
    _wait_for(lambda: any(e[0] == "closed" for e in _log(log)), 20, "graders to close")
    closed = {e[1] for e in _log(log) if e[0] == "closed"}
    built = {e[1] for e in _log(log) if e[0] == "built"}
    assert closed <= built and closed


def test_grader_that_cannot_start_stops_the_batch(cluster, tmp_path):
    jobs = _class(tmp_path, n=3)
    pool = DaskPool(BrokenFactory(), address=cluster.address, no_worker_timeout=30)
    with pytest.raises(RuntimeError, match="could not start.*rubric file vanished"):
        list(pool.run(jobs))
    # The cluster is still usable by the next batch.
    again = results_by_student(DaskPool(HashFactory(), address=cluster.address).run(jobs[:2]))
    assert again == {j.student: HashGrader().grade_job(j).result for j in jobs[:2]}


def test_scheduler_without_workers_times_out(tmp_path):
    lonely = Cluster(tmp_path, workers=0, allowed_failures=1)
    try:
        pool = DaskPool(HashFactory(), address=lonely.address, no_worker_timeout=2)
        start = time.monotonic()
        with pytest.raises(RuntimeError, match="no Dask worker"):
            list(pool.run(_class(tmp_path, n=2)))
        assert time.monotonic() - start < 30
    finally:
        lonely.close()


def test_unreachable_scheduler_fails_fast(tmp_path):
    pool = DaskPool(HashFactory(), address="tcp://127.0.0.1:9", connect_timeout=2)
    with pytest.raises(OSError):
        list(pool.run(_class(tmp_path, n=1)))


def test_no_jobs_start_nothing_and_engine_choice():
    assert list(DaskPool(HashFactory(), address="tcp://127.0.0.1:9").run([])) == []
    assert isinstance(make_pool(HashFactory(), workers=2), LocalPool)
    pool = make_pool(HashFactory(), workers=3, dask_address="local")
    assert isinstance(pool, DaskPool) and pool.workers == 3 and pool.address == "local"


def test_stopping_early_cancels_the_rest_and_closes_the_graders(cluster, tmp_path):
    jobs = [job_for(p) for p in make_files(tmp_path / "class", 8)]
    log = tmp_path / "grading.log"
    run = DaskPool(HashFactory(0.3, str(log)), address=cluster.address).run(jobs)
    first_job, first = next(run)
    assert first.result == HashGrader().grade_job(first_job).result
    run.close()  # what a KeyboardInterrupt in the batch loop does to the generator
    from distributed import Client

    with Client(cluster.address, timeout=30) as client:
        _wait_for(lambda: not any(client.processing().values()), 20, "the cluster to go idle")
    _wait_for(lambda: any(e[0] == "closed" for e in _log(log)), 20, "graders to close")
    graded = [e for e in _log(log) if e[0] == "graded"]
    assert len(graded) < len(jobs)  # the rest never ran

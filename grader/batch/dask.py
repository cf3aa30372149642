"""Grading on a Dask distributed cluster, with the same results and interface as `LocalPool`.

    pool = DaskPool(factory, address="tcp://scheduler:8786")   # or address="local"
    for job, graded in pool.run(jobs): ...

Why it is built this way:

* Jobs carry the submission's bytes, so workers need no shared file system; only the `grader`
  package (same version, checked before the first job) has to be installed on them.
* Each worker thread keeps one warm `Grader` (a worker plugin builds it on first use and closes
  it when the batch ends), so the rubric, expectations and sandbox start once per worker, not
  once per student.
* The client never hands out more jobs than the cluster has threads. A job whose worker dies
  (native crash, OOM killer) is rerun by the scheduler; after `retries` reruns it becomes an
  internal-failure row and the batch goes on, exactly as with `LocalPool`. The scheduler counts
  deaths itself (`distributed.scheduler.allowed-failures`): a local cluster is started with that
  set to `retries`; on an existing cluster a job is tried at least `retries + 1` times.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from typing import Any

import dask
from distributed import Client, Future, KilledWorker, LocalCluster, WorkerPlugin, get_worker
from distributed import wait as dask_wait

import grader
from grader.batch.jobs import Job, internal_failure
from grader.batch.local import LocalPool, WorkerFactory, limit_threads
from grader.result import Graded

LOCAL = "local"
POLL_S = 1.0


class GraderStartError(RuntimeError):
    """The grader could not be built on a worker: a configuration problem, not a student's."""


class _GraderPlugin(WorkerPlugin):
    """Lives on every worker of the cluster; hands each job a warm Grader of its own.

    Graders are built lazily in the executor thread that needs one (building may take seconds
    and must not block the worker's event loop) and reused; a worker with n threads ends up
    with at most n graders, never two jobs on one grader at once.
    """

    def __init__(self, factory: WorkerFactory, threads: int) -> None:
        self.factory = factory
        self.threads = threads

    def setup(self, worker: Any) -> None:
        limit_threads(self.threads)
        self._lock = threading.Lock()
        self._idle: list[Any] = []
        self._built: list[Any] = []
        self._start_error: str | None = None

    def acquire(self) -> Any:
        with self._lock:
            if self._start_error is not None:
                raise GraderStartError(self._start_error)
            if self._idle:
                return self._idle.pop()
        try:
            built = self.factory()
        except BaseException as exc:
            with self._lock:
                self._start_error = repr(exc)
            raise GraderStartError(repr(exc)) from exc
        with self._lock:
            self._built.append(built)
        return built

    def release(self, built: Any) -> None:
        with self._lock:
            self._idle.append(built)

    def teardown(self, worker: Any) -> None:
        with self._lock:
            built, self._built, self._idle = self._built, [], []
        for item in built:
            try:
                item.close()
            except Exception:
                pass


def _grade_on_worker(plugin_name: str, job: Job) -> tuple[str, Any]:
    """The Dask task: ("done", Graded) or ("failed", why the grader could not start)."""
    plugin = get_worker().plugins.get(plugin_name)
    if plugin is None:
        return "failed", f"worker plugin {plugin_name!r} is not installed on this worker"
    try:
        built = plugin.acquire()
    except GraderStartError as exc:
        return "failed", str(exc)
    try:
        try:
            graded = built.grade_job(job)
        except BaseException as exc:  # never let one submission take the worker down
            graded = internal_failure(job, f"the grader failed: {exc!r}", exc=exc)
    finally:
        plugin.release(built)
    return "done", graded


def _worker_version() -> str:
    import grader as installed

    return installed.__version__


def _allowed_failures(dask_scheduler: Any) -> int:
    return int(dask_scheduler.allowed_failures)


class DaskPool:
    """Run jobs on a Dask cluster; yields (job, Graded) as each finishes, like `LocalPool`.

    `address` is a scheduler address ("tcp://host:8786") or "local" for a LocalCluster on
    127.0.0.1 with `workers` single-threaded worker processes. `no_worker_timeout` bounds how
    long the batch waits while the cluster has no worker at all.
    """

    def __init__(self, factory: WorkerFactory, address: str = LOCAL, workers: int = 1,
                 threads: int = 1, retries: int = 1, no_worker_timeout: float = 120.0,
                 connect_timeout: float = 30.0) -> None:
        self.factory, self.address = factory, address
        self.workers, self.threads, self.retries = max(1, workers), max(1, threads), retries
        self.no_worker_timeout, self.connect_timeout = no_worker_timeout, connect_timeout
        self.notes: list[str] = []  # what the caller may want to tell the user

    # -- connection ---------------------------------------------------------------------------

    def _connect(self, stack: ExitStack) -> Client:
        if self.address == LOCAL:
            with dask.config.set({"distributed.scheduler.worker-saturation": 1.0}):
                cluster = stack.enter_context(LocalCluster(
                    n_workers=self.workers, threads_per_worker=1, processes=True,
                    host="127.0.0.1", dashboard_address=None, silence_logs=logging.CRITICAL,
                    memory_limit=0,  # the sandbox limits student code; don't kill graders
                    scheduler_kwargs={"allowed_failures": self.retries},
                    env={"OMP_NUM_THREADS": str(self.threads)}))
            client = stack.enter_context(Client(cluster, timeout=self.connect_timeout))
        else:
            client = stack.enter_context(Client(self.address, timeout=self.connect_timeout))
        return client

    def _check_workers(self, client: Client) -> None:
        try:
            client.wait_for_workers(1, timeout=self.no_worker_timeout)
        except TimeoutError:
            raise RuntimeError(f"no Dask worker joined the cluster at {self.address} within "
                               f"{self.no_worker_timeout:.0f} s") from None
        ours = grader.__version__
        versions = client.run(_worker_version)
        wrong = {addr: v for addr, v in versions.items() if v != ours}
        if wrong:
            raise RuntimeError(f"Dask workers run grader {sorted(set(wrong.values()))}, this "
                               f"client runs {ours}: install the same version everywhere")

    @staticmethod
    def _capacity(client: Client) -> int:
        return sum(client.nthreads().values())

    # -- the batch ----------------------------------------------------------------------------

    def run(self, jobs: Iterable[Job]) -> Iterator[tuple[Job, Graded]]:
        pending = deque(jobs)
        if not pending:
            return
        with ExitStack() as stack:
            client = self._connect(stack)
            self._check_workers(client)
            # Attempts one submission costs when its worker keeps dying.
            per_submit = 1 + client.run_on_scheduler(_allowed_failures)
            if per_submit - 1 != self.retries:
                self.notes.append(
                    f"the scheduler reruns a job whose worker died {per_submit - 1} time(s) "
                    f"(distributed.scheduler.allowed-failures); asked for {self.retries}")
            name = f"grader-{uuid.uuid4().hex}"
            client.register_plugin(_GraderPlugin(self.factory, self.threads), name=name)
            stack.callback(self._unregister, client, name)
            in_flight: dict[Future, Job] = {}
            stack.callback(self._cancel, client, in_flight)
            attempts: dict[int, int] = {}
            no_workers_since: float | None = None
            while pending or in_flight:
                capacity = self._capacity(client)
                while pending and len(in_flight) < capacity:
                    job = pending.popleft()
                    future = client.submit(_grade_on_worker, name, job, pure=False,
                                           key=f"grade-{uuid.uuid4().hex}")
                    in_flight[future] = job
                if capacity == 0:
                    no_workers_since = no_workers_since or time.monotonic()
                    if time.monotonic() - no_workers_since > self.no_worker_timeout:
                        raise RuntimeError(f"the Dask cluster at {self.address} has had no "
                                           f"worker for {self.no_worker_timeout:.0f} s")
                else:
                    no_workers_since = None
                if not in_flight:
                    time.sleep(POLL_S)
                    continue
                try:
                    done, _ = dask_wait(list(in_flight), timeout=POLL_S,
                                        return_when="FIRST_COMPLETED")
                except TimeoutError:
                    continue
                for future in done:
                    job = in_flight.pop(future)
                    outcome = self._outcome(future, job, attempts, per_submit)
                    future.release()
                    if outcome is None:
                        pending.appendleft(job)
                    else:
                        yield job, outcome

    def _outcome(self, future: Future, job: Job, attempts: dict[int, int],
                 per_submit: int) -> Graded | None:
        """The job's row, or None when it must be submitted again."""
        if future.status == "finished":
            kind, payload = future.result()
            if kind == "failed":
                raise RuntimeError(f"a grading worker could not start: {payload}")
            return payload
        if future.status == "cancelled":
            raise RuntimeError(f"the Dask cluster at {self.address} cancelled a job "
                               "(lost connection to the scheduler?)")
        exc = future.exception()
        if isinstance(exc, KilledWorker):
            tried = attempts.get(id(job), 0) + per_submit
            attempts[id(job)] = tried
            if tried <= self.retries:
                return None
            return internal_failure(job, "the grading process died while grading this "
                                         f"submission (tried {tried} times)")
        return internal_failure(job, f"the Dask task failed: {exc!r}", exc=exc)

    @staticmethod
    def _cancel(client: Client, in_flight: dict[Future, Job]) -> None:
        if in_flight:
            try:
                client.cancel(list(in_flight), force=True)
            except Exception:
                pass

    @staticmethod
    def _unregister(client: Client, name: str) -> None:
        try:
            client.unregister_worker_plugin(name)  # closes every warm grader of this batch
        except Exception:
            pass


def make_pool(factory: WorkerFactory, workers: int = 1, threads: int = 1,
              dask_address: str | None = None, retries: int = 1) -> LocalPool | DaskPool:
    """The engine for a batch: local processes, or Dask when an address (or "local") is given."""
    if dask_address:
        return DaskPool(factory, address=dask_address, workers=workers, threads=threads,
                        retries=retries)
    return LocalPool(factory, workers=workers, threads=threads, retries=retries)

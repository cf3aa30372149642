"""The trusted side: a pool of warm sandboxed workers, and a one-shot variant.

    with Sandbox(Limits(timeout=60), workers=2) as sb:
        outcome = sb.run({"task": "observe", ...}, files={"a2.py": source})

Everything a worker says is re-checked here (sizes, names, status words); nothing is unpickled.
A task that kills or freezes its supervisor is handled inside the sandbox (see worker.py). A
worker that dies, stops answering, or fails to clean up is destroyed here (its cgroup and its
namespace) and replaced in the background; its task is reported as crashed, memory or timeout.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import shutil
import signal
import subprocess
import threading
import time
import weakref
from concurrent.futures import Future
from typing import Any

from grader.sandbox import cgroups, launch
from grader.sandbox.limits import GiB, Limits
from grader.sandbox.outcome import STATUSES, Outcome
from grader.sandbox.protocol import Deadline, ProtocolError, Reader, safe_relative, send_message
from grader.sandbox.tasks import check_task

log = logging.getLogger("grader.sandbox")

# The grading tasks themselves are preloaded too: importing `observe` (graph capture) costs
# ~0.14 s, paid once per worker instead of once per task. Importing them runs no torch op.
# What the fine-tuning prelude imports in every notebook (off-screen matplotlib, torchvision's
# segmentation models) is preloaded as well: 0.3 s a 2020 notebook.
DEFAULT_PRELOAD = ("numpy", "torch", "torchvision", "torchvision.models.segmentation",
                   "matplotlib.pyplot", "grader.sandbox.tasks.observe",
                   "grader.sandbox.tasks.train", "grader.sandbox.tasks.cells")
START_TIMEOUT_S = 180.0     # a cold worker imports torch on a busy 2-core machine
STARTUP_MEMORY = 3 * GiB    # cgroup head-room while the worker imports torch
WORKER_PIDS = 32            # processes/threads the worker itself may hold besides the task's
STDERR_TAIL = 32 * 1024


class _Spawner:
    """Starts every sandbox from one long-lived thread.

    bwrap --die-with-parent (and the fallback's PR_SET_PDEATHSIG) fire when the *thread* that
    forked them exits, so a pool used from short-lived threads must not start workers there.
    """

    def __init__(self) -> None:
        self._jobs: queue.Queue[tuple[list[str], dict[str, Any], Future[subprocess.Popen[bytes]]]]
        self._jobs = queue.Queue()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._lock = threading.Lock()

    def popen(self, argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        with self._lock:
            if self._pid != os.getpid():  # we are a forked copy: the old thread is not here
                self._jobs, self._thread, self._pid = queue.Queue(), None, os.getpid()
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="sandbox-spawner",
                                                daemon=True)
                self._thread.start()
        done: Future[subprocess.Popen[bytes]] = Future()
        self._jobs.put((argv, kwargs, done))
        return done.result()

    def _loop(self) -> None:
        while True:
            argv, kwargs, done = self._jobs.get()
            try:
                done.set_result(subprocess.Popen(argv, **kwargs))
            except BaseException as exc:
                done.set_exception(exc)


_spawner = _Spawner()


class WorkerHandle:
    """One warm worker: its sandbox process, pipes, cgroup, and the tasks it runs one at a time."""

    def __init__(self, limits: Limits, threads: int, preload: tuple[str, ...], mechanism: str,
                 require_isolation: bool) -> None:
        self.limits = limits
        self.threads = threads
        self.preload = preload
        self.mechanism = mechanism
        self.require_isolation = require_isolation
        self.proc: subprocess.Popen[bytes] | None = None
        self.cgroup: cgroups.WorkerCgroup | None = None
        self.plan: launch.LaunchPlan | None = None
        self.ready: dict[str, Any] = {}
        self.baseline_members = 0
        self.baseline_memory = 0
        self._stderr_tail = bytearray()
        self._req_w = self._resp_r = -1
        self.reader: Reader | None = None
        self.warnings: list[str] = []
        self.started_s = 0.0

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # ---- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        t0 = time.monotonic()
        req_r, self._req_w = os.pipe()
        self._resp_r, resp_w = os.pipe()
        config = {"preload": list(self.preload), "threads": self.threads, "fds": [req_r, resp_w]}
        try:
            self.plan = launch.plan(self.mechanism, self.require_isolation, self.threads,
                                    self.limits.scratch, config)
        except BaseException:
            for fd in (req_r, resp_w, self._req_w, self._resp_r):
                _close(fd)
            raise
        self.warnings = list(self.plan.report.get("warnings", []))
        self.cgroup = self._make_cgroup()
        # A tiny sh shim enters the cgroups before exec'ing the sandbox, so that the sandbox and
        # everything it ever forks is inside from the start. The pipes keep their fd numbers.
        shim = 'while [ "$1" != "--" ]; do echo $$ > "$1" || exit 97; shift; done; shift; exec "$@"'
        files = self.cgroup.procs_files() if self.cgroup else []
        argv = ["/bin/sh", "-c", shim, "sh"] + files + ["--"] + self.plan.argv
        # bwrap needs nothing of the grader's environment (tokens, paths); give it none, so that
        # none can ever show up inside, e.g. through a process's /proc/PID/environ.
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
        if self.plan.mechanism == "none":
            scratch = self.plan.host_scratch or "/nonexistent"
            env = launch.worker_env(self.threads, scratch, scratch)
        try:
            self.proc = _spawner.popen(argv, stdin=subprocess.DEVNULL,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                       pass_fds=(req_r, resp_w), env=env,
                                       cwd=self.plan.host_scratch or "/",
                                       start_new_session=True)
        finally:
            os.close(req_r)
            os.close(resp_w)
        threading.Thread(target=self._drain_stderr, args=(self.proc,), daemon=True,
                         name="sandbox-stderr").start()
        self.reader = Reader(self._resp_r)
        try:
            header, _ = self.reader.read_message(time.monotonic() + START_TIMEOUT_S, 1 << 20, 0)
        except ProtocolError as exc:
            tail = self.stderr_tail()
            self.stop()
            raise launch.SandboxUnavailable(
                f"sandbox worker failed to start ({exc}): {tail}") from None
        if header.get("op") != "ready":
            self.stop()
            raise launch.SandboxUnavailable(f"sandbox worker sent {header!r} instead of ready")
        self.ready = header
        self.warnings += [f"worker: {note}" for note in header.get("notes", [])[:10]
                          if isinstance(note, str)]
        if self.cgroup:
            self.baseline_members = len(self.cgroup.members())
            self.baseline_memory = self.cgroup.usage()
            self.cgroup.set_memory_limit(self.baseline_memory + self.limits.memory)
        self.started_s = time.monotonic() - t0

    def _make_cgroup(self) -> cgroups.WorkerCgroup | None:
        support = _cgroup_support()
        if not support.usable:
            procs = ("NOT bounded (RLIMIT_NPROC does not bind root)" if os.geteuid() == 0
                     else "bounded by RLIMIT_NPROC for this user")
            self.warnings.append(f"no cgroup limits: {support.reason}; memory is bounded only by "
                                 f"RLIMIT_AS per process, the process count is {procs}")
            log.warning("grader sandbox: %s", self.warnings[-1])
            return None
        try:
            return cgroups.WorkerCgroup(support, self.limits.memory + STARTUP_MEMORY,
                                        self.limits.max_procs + WORKER_PIDS)
        except OSError as exc:
            self.warnings.append(f"no cgroup limits: could not create a cgroup: {exc}")
            log.warning("grader sandbox: %s", self.warnings[-1])
            return None

    def _drain_stderr(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stderr is not None
        for chunk in iter(lambda: proc.stderr.read1(65536), b""):  # type: ignore[union-attr]
            self._stderr_tail += chunk
            del self._stderr_tail[:-STDERR_TAIL]

    def stderr_tail(self) -> str:
        return self._stderr_tail.decode("utf-8", "replace").strip()[-4000:]

    def stop(self, graceful: bool = True) -> None:
        """End the worker and everything in its sandbox; remove its cgroup and host scratch."""
        if self.proc is not None:
            if graceful and self.alive:
                try:
                    send_message(self._req_w, {"op": "exit"})
                except OSError:
                    pass
            for fd in (self._req_w,):
                _close(fd)
            self._req_w = -1
            try:
                self.proc.wait(timeout=3 if graceful else 0.01)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)  # outer bwrap: the sandbox follows
                except ProcessLookupError:
                    pass
                self.proc.wait()
        if self.cgroup is not None:
            self.cgroup.remove()
            self.cgroup = None
        _close(self._resp_r)
        self._resp_r = -1
        if self.plan is not None and self.plan.host_scratch:
            shutil.rmtree(self.plan.host_scratch, ignore_errors=True)
        self.proc = None

    # ---- one task --------------------------------------------------------------------------
    def isolation(self, rlimits: dict[str, Any] | None = None,
                  extra: list[str] | None = None) -> dict[str, Any]:
        assert self.plan is not None
        report = json.loads(json.dumps(self.plan.report))
        report["warnings"] = list(self.warnings) + list(extra or [])
        if self.cgroup is not None:
            report["cgroup"] = {"version": self.cgroup.version,
                                "memory_limit_bytes": self.cgroup.memory_limit,
                                "task_memory_bytes": self.limits.memory,
                                "pids_max": self.cgroup.pids_max}
        else:
            report["cgroup"] = None
        if rlimits is not None:
            report["rlimits"] = rlimits
            if os.geteuid() == 0:
                report["rlimits_note"] = "NPROC is not enforced for root (even in a user ns)"
        report["threads"] = self.threads
        if report.get("mechanism") == "bwrap":
            from grader.sandbox.launch import gpu_devices

            report["gpu_devices"] = gpu_devices()
        return report

    def settled(self, patience: float = 0.5) -> bool:
        """No more processes in the sandbox than when it was ready (the trusted side's check)."""
        if self.cgroup is None:
            return True
        deadline = time.monotonic() + patience
        while len(self.cgroup.members()) > self.baseline_members:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.002)
        return True

    def run(self, request: dict[str, Any], files: dict[str, bytes], limits: Limits) -> Outcome:
        assert self.reader is not None and self.plan is not None
        cgroup = self.cgroup
        ooms_before = refusals_before = 0
        if cgroup is not None:
            if limits.memory != self.limits.memory:
                cgroup.set_memory_limit(self.baseline_memory + limits.memory)
            cgroup.reset_peak()
            ooms_before = cgroup.oom_kills()
            refusals_before = cgroup.pids_refusals()
        started = time.monotonic()
        header = {"op": "run", "id": 1, "task": request["task"], "request": request,
                  "limits": limits.to_dict()}
        retire = False
        try:
            send_message(self._req_w, header, files)
            deadline = started + limits.timeout + limits.grace + limits.artifacts / 500e6
            reply, blobs = self.reader.read_message(deadline, max(limits.result, 1 << 20) * 4,
                                                    limits.result + limits.artifacts)
            outcome = self._outcome(reply, blobs, limits)
            retire = bool(reply.get("retire"))
        except (ProtocolError, OSError) as exc:
            outcome = self._worker_lost(exc, started)
            retire = True
        if cgroup is not None:  # the trusted side's own view, before anything is torn down
            peak = cgroup.peak()
            if peak is not None:
                outcome.resources["cgroup_peak_bytes"] = peak
                outcome.resources["task_memory_bytes"] = max(0, peak - self.baseline_memory)
            refused = cgroup.pids_refusals() - refusals_before
            if refused:
                outcome.resources["forks_refused"] = refused
            if cgroup.oom_kills() > ooms_before and outcome.status in ("crashed", "error"):
                outcome.status = "memory"
                outcome.error = ((outcome.error + "\n" if outcome.error else "")
                                 + "killed by the out-of-memory killer: the task needed more "
                                 f"than its {limits.memory} bytes")
            # One extra member is the previous handler still exiting while the next one exists.
            if not retire and len(cgroup.members()) > self.baseline_members + 1:
                outcome.isolation["warnings"].append(
                    "processes outlived the task inside the sandbox; the worker was destroyed")
                retire = True
        if retire:
            self.stop(graceful=False)
        elif cgroup is not None and limits.memory != self.limits.memory:
            cgroup.set_memory_limit(self.baseline_memory + self.limits.memory)
        return outcome

    def _worker_lost(self, exc: Exception, started: float) -> Outcome:
        """The worker died, hung or spoke nonsense: say what happened (the caller destroys it)."""
        timed_out = isinstance(exc, Deadline)
        if timed_out:  # stop it now so the stderr tail below is complete
            self._kill_sandbox()
        tail = self.stderr_tail()
        status = "timeout" if timed_out else "crashed"
        error = ("the sandbox did not answer within the time limit; it was destroyed"
                 if timed_out else f"the sandbox worker died during the task ({exc})")
        if tail:
            error += f"\nworker stderr:\n{tail}"
        return Outcome(status=status, error=error,
                       resources={"wall_s": round(time.monotonic() - started, 4), "cpu_s": None,
                                  "max_rss_bytes": None},
                       isolation=self.isolation(None, ["the worker was lost and replaced"]))

    def _kill_sandbox(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def _outcome(self, reply: dict[str, Any], blobs: dict[str, bytes], limits: Limits) -> Outcome:
        status = reply.get("status")
        if status not in STATUSES:
            raise ProtocolError(f"worker reported an unknown status {status!r}")
        result = None
        if status == "ok":
            try:
                result = json.loads(blobs.get("result", b""))
            except (ValueError, RecursionError) as exc:
                status, reply["error"] = "error", f"the task's result is not valid JSON: {exc}"
            else:
                if not isinstance(result, dict):
                    status, result = "error", None
                    reply["error"] = "the task's result is not a JSON object"
        artifacts: dict[str, bytes] = {}
        notes = [n for n in reply.get("notes", []) if isinstance(n, str)][:20]
        for name, data in blobs.items():
            if name.startswith("artifact:"):
                try:
                    artifacts[safe_relative(name[len("artifact:"):]).as_posix()] = data
                except ValueError as exc:
                    notes.append(f"artifact dropped: {exc}")
        error = reply.get("error")
        resources = reply.get("resources") if isinstance(reply.get("resources"), dict) else {}
        clean_resources = {k: resources.get(k) for k in ("wall_s", "cpu_s", "max_rss_bytes")
                           if isinstance(resources.get(k), int | float)}
        exit_info = reply.get("exit") if isinstance(reply.get("exit"), dict) else {}
        clean_resources["exit"] = {k: exit_info.get(k) for k in ("code", "signal")}
        phases = reply.get("phases") if isinstance(reply.get("phases"), dict) else {}
        clean_resources["phases_s"] = {k: round(v, 4) for k, v in phases.items()
                                       if isinstance(v, int | float) and isinstance(k, str)}
        truncated = [t for t in reply.get("truncated", []) if t in ("stdout", "stderr")]
        isolation = self.isolation(reply.get("rlimits"), notes)
        if reply.get("retire"):
            isolation["warnings"].append("the worker could not clean up and was replaced")
        return Outcome(status=status, result=result, artifacts=artifacts,
                       stdout=_text(reply.get("stdout"), limits.output),
                       stderr=_text(reply.get("stderr"), limits.output),
                       resources=clean_resources, isolation=isolation,
                       error=str(error)[:100_000] if error is not None else None,
                       truncated=truncated)


def _text(value: object, cap: int) -> str:
    return value[:cap] if isinstance(value, str) else ""


def _close(fd: int) -> None:
    if fd >= 0:
        try:
            os.close(fd)
        except OSError:
            pass


_support_lock = threading.Lock()
_support: cgroups.CgroupSupport | None = None


def _cgroup_support() -> cgroups.CgroupSupport:
    global _support
    with _support_lock:
        if _support is None:
            _support = cgroups.detect()
        return _support


def _check_files(files: dict[str, bytes] | None, limits: Limits) -> dict[str, bytes]:
    files = dict(files or {})
    for name, data in files.items():
        safe_relative(name)
        if not isinstance(data, bytes | bytearray):
            raise TypeError(f"input file {name!r} must be bytes")
    if sum(len(d) for d in files.values()) > limits.inputs:
        raise ValueError(f"input files exceed {limits.inputs} bytes")
    return files


class Sandbox:
    """A pool of `workers` warm sandboxed workers; `run` is thread-safe (one task per worker).

    mechanism: "auto" (bwrap if it works, else a loud fallback), "bwrap" (or fail), "none"
    (no isolation, for tests of the fallback). `require_isolation=True` refuses to run without
    bwrap. `preload` names modules the workers import once (never running a torch op).
    """

    def __init__(self, limits: Limits | None = None, workers: int = 1, threads: int | None = None,
                 require_isolation: bool = False, mechanism: str = "auto",
                 preload: tuple[str, ...] = DEFAULT_PRELOAD) -> None:
        if workers < 1:
            raise ValueError("a sandbox needs at least one worker")
        self.limits = limits or Limits()
        self.threads = threads or max(1, (os.cpu_count() or 1) // workers)
        self._handles = [WorkerHandle(self.limits, self.threads, tuple(preload), mechanism,
                                      require_isolation) for _ in range(workers)]
        self._free: queue.Queue[WorkerHandle] = queue.Queue()
        self._locks = {id(h): threading.Lock() for h in self._handles}
        self._closed = False
        self._started = False
        # A pool that is dropped without close() still ends its workers and removes its cgroups.
        self._finalizer = weakref.finalize(self, _stop_all, list(self._handles))

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Start every worker in parallel; fail (and clean up) if any cannot start."""
        if self._started:
            return
        errors: list[BaseException] = []
        threads = [threading.Thread(target=self._start_one, args=(h, errors)) for h in
                   self._handles]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            self.close()
            raise errors[0]
        for handle in self._handles:
            self._free.put(handle)
        self._started = True

    def _start_one(self, handle: WorkerHandle, errors: list[BaseException]) -> None:
        try:
            with self._locks[id(handle)]:
                handle.start()
        except BaseException as exc:
            errors.append(exc)

    def _replace_later(self, handle: WorkerHandle) -> None:
        """Warm a replacement in the background so the next task does not pay the cold start."""
        def warm() -> None:
            with self._locks[id(handle)]:
                if not handle.alive and not self._closed:
                    try:
                        handle.start()
                    except Exception as exc:  # retried when the slot is next used
                        log.warning("grader sandbox: could not restart a worker: %s", exc)
        threading.Thread(target=warm, daemon=True, name="sandbox-restart").start()

    @property
    def isolation(self) -> dict[str, Any]:
        """What the first worker runs under (all workers are started the same way)."""
        return self._handles[0].isolation() if self._handles[0].plan else {}

    def worker_pids(self) -> list[int | None]:
        """Host pids of the workers' sandbox processes (None while one is being replaced)."""
        return [h.proc.pid if h.proc is not None else None for h in self._handles]

    @property
    def worker_info(self) -> list[dict[str, Any]]:
        """Per worker, what it reported when ready (preloaded modules, versions, memory) and how
        long its cold start took."""
        return [dict(h.ready, start_s=round(h.started_s, 3)) for h in self._handles]

    def run(self, request: dict[str, Any], files: dict[str, bytes] | None = None,
            limits: Limits | None = None) -> Outcome:
        """Run one task in a fresh fork of a warm worker. Never raises for anything the task did.

        `limits` may change timeout/cpu/memory/output caps for this task; tmpfs sizes and the
        process cap stay those the pool was started with.
        """
        if self._closed:
            raise RuntimeError("this sandbox is closed")
        if not self._started:
            self.start()
        check_task(request.get("task"))
        json.dumps(request)  # must be plain JSON: fail here, in the caller, not in the sandbox
        limits = limits or self.limits
        files = _check_files(files, limits)
        handle = self._free.get()
        try:
            with self._locks[id(handle)]:
                rebuilt = []
                if handle.alive and not handle.settled():
                    rebuilt.append("the sandbox held processes it should not have before this "
                                   "task; it was rebuilt")
                    handle.stop(graceful=False)
                if not handle.alive:
                    handle.stop(graceful=False)
                    handle.start()
                outcome = handle.run(request, files, limits)
                outcome.isolation["warnings"] += rebuilt
                lost = not handle.alive
        finally:
            self._free.put(handle)
        if lost and not self._closed:
            self._replace_later(handle)
        return outcome

    def close(self) -> None:
        self._closed = True
        for handle in self._handles:
            with self._locks[id(handle)]:
                handle.stop()
        self._finalizer.detach()


def _stop_all(handles: list[WorkerHandle]) -> None:
    for handle in handles:
        handle.stop(graceful=False)


def run_once(request: dict[str, Any], limits: Limits | None = None,
             files: dict[str, bytes] | None = None, *, threads: int | None = None,
             preload: tuple[str, ...] = (), require_isolation: bool = False,
             mechanism: str = "auto") -> Outcome:
    """One task in a sandbox of its own, torn down afterwards (e.g. a notebook with its kernels).

    Same isolation and the same kill-everything guarantee as the pool; nothing is preloaded by
    default because such tasks usually start their own interpreters.
    """
    with Sandbox(limits, workers=1, threads=threads, require_isolation=require_isolation,
                 mechanism=mechanism, preload=preload) as sandbox:
        return sandbox.run(request, files)

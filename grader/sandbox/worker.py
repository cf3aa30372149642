"""The warm worker: lives inside the sandbox, preloads torch, and runs each task in fresh forks.

Started by the trusted side as `python -I -m grader.sandbox.worker CONFIG_JSON` with two pipe fds
(requests in, replies out). Three kinds of process, all inside the sandbox:

* the *zygote* (pid 1 of the sandbox's pid namespace under bwrap): imports torch & co. once and
  never touches task data, so nothing of one submission can linger in memory that the next
  submission's fork inherits. As init of the namespace it cannot be killed or stopped by tasks.
* a *handler*, forked fresh from the zygote for each task: reads one request, writes the input
  files into a fresh scratch folder, forks the task child and supervises it (wall time, total
  CPU, output volume); then kills every other process in the namespace (kill(-1) spares init and
  itself), reaps them, wipes every writable place, replies, and exits.
* the *task child*, forked from the handler: see `child.py`.

If a task kills or freezes its handler, the zygote notices (the handler's notify pipe closes, or
its backstop time passes), kills everything, cleans up and replies itself. Nothing here ever
runs a torch op, so forks do not inherit a dead OpenMP pool. This is trusted code in an untrusted
place: its replies are checked again outside.
"""

from __future__ import annotations

import gc
import importlib
import json
import math
import os
import select
import signal
import stat
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from grader.sandbox import child as child_mod
from grader.sandbox.cleanup import (
    PR_SET_CHILD_SUBREAPER,
    PR_SET_DUMPABLE,
    PR_SET_PDEATHSIG,
    TaskProcesses,
    all_pids,
    parents,
    prctl,
    remove_sysv_ipc,
    wipe_contents,
)
from grader.sandbox.protocol import PeerClosed, Reader, safe_relative, send_message
from grader.sandbox.tasks import TASKS, UnknownTask

GiB = 1 << 30
TORCH_ADDRESS_FLOOR = 4 * GiB  # virtual memory a fresh interpreter needs just to import torch
POLL_S = 0.1
MAX_ARTIFACT_FILES = 1000
EXIT_SERVED, EXIT_STOP = 0, 3  # handler exit codes: served one task / the parent said stop


def _vm_bytes() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _rss_bytes() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def clean_sandbox(private: bool, wipe: list[Path], keep: list[Path] | None = None) -> list[str]:
    """Kill every task process, empty every writable place, drop IPC objects; what failed."""
    problems = [] if TaskProcesses(private).kill_all() else ["task processes survived SIGKILL"]
    for place in wipe:
        problems += wipe_contents(place, keep or ())
    if private:
        problems += remove_sysv_ipc()
    return problems


class Zygote:
    """Pid 1 of the sandbox: preloads, then forks one handler per task and watches it."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.private = bool(config["private"])
        self.wipe = [Path(p) for p in config["wipe"]]
        self.keep = [Path(p) for p in config.get("keep") or []]
        self.req_fd, self.resp_fd = config["fds"]
        self.notes: list[str] = []
        self.seq = 0

    def start(self) -> None:
        prctl(PR_SET_DUMPABLE, 0)         # tasks (same uid) cannot ptrace or read us
        prctl(PR_SET_CHILD_SUBREAPER, 1)  # fallback: orphans come to us (as init they do anyway)
        if not self.private:
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        elif os.getpid() != 1 or all_pids() != [1]:
            # kill(-1) is only safe in a namespace that holds nothing but us and our forks.
            raise SystemExit("worker: told it is init of a private pid namespace, but it is not")
        # As init, only signals with a handler reach us from inside: take Python's away.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        preloaded, versions = [], {}
        for name in self.config["preload"]:
            try:
                module = importlib.import_module(name)
            except Exception as exc:  # a missing library only matters to tasks that need it
                self.notes.append(f"could not preload {name}: {exc!r}")
                continue
            preloaded.append(name)
            versions[name] = str(getattr(module, "__version__", "?"))
        gc.collect()
        gc.freeze()  # forks then do not dirty the shared heap just by collecting
        threads = len(os.listdir("/proc/self/task"))
        if threads != 1:
            self.notes.append(f"worker has {threads} threads at fork time")
        self.ready = {"op": "ready", "python": sys.version.split()[0], "preloaded": preloaded,
                      "versions": versions, "vm_bytes": _vm_bytes(), "rss_bytes": _rss_bytes(),
                      "notes": self.notes}

    def _fork_handler(self) -> tuple[int, int]:
        notify_r, notify_w = os.pipe()
        self.seq += 1
        pid = os.fork()
        if pid == 0:
            os.close(notify_r)
            code = EXIT_STOP
            try:
                code = Handler(self.config, self.seq, notify_w).serve_one()
            finally:
                os._exit(code)
        os.close(notify_w)
        return pid, notify_r

    def serve(self) -> None:
        pid, notify = self._fork_handler()
        send_message(self.resp_fd, self.ready)  # the parent counts one idle handler as normal
        while True:
            verdict = self._watch(pid, notify)
            if verdict == "stop":
                return
            old = pid
            # The next handler is forked while the old one is still exiting, so that a request
            # sent right after a reply does not wait for that teardown.
            pid, notify = self._fork_handler()
            if verdict == "replied":
                os.waitpid(old, 0)
                self._kill_strays(keep=pid)

    def _watch(self, pid: int, notify_r: int) -> str:
        """Follow one handler until it has replied, asked to stop, or was lost mid-task.

        A lost handler (killed or frozen by its task) is replaced by us: we kill everything,
        clean up and send the reply it owed.
        """
        started: dict[str, Any] | None = None
        timed_out = False
        buffer = b""
        try:
            while True:
                backstop = started["backstop"] if started else None
                wait = None if backstop is None else max(0.0, backstop - time.monotonic())
                ready, _, _ = select.select([notify_r], [], [], wait)
                if not ready:
                    timed_out = True
                    break
                chunk = os.read(notify_r, 4096)
                if not chunk:
                    break
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    event = json.loads(line)
                    if event.get("event") == "start":
                        started = event
                    elif event.get("event") == "replied":
                        return "replied"
                    elif event.get("event") == "stop":
                        os.waitpid(pid, 0)
                        return "stop"
        finally:
            os.close(notify_r)
        if timed_out:
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        if started is not None:
            self._reply_for_lost_handler(started, status, timed_out)
        elif clean_sandbox(self.private, self.wipe, self.keep):
            return "stop"
        return "lost"

    def _kill_strays(self, keep: int) -> None:
        """Kill any child of ours but the current handler (orphans of a finished task).

        Cannot find anything if the handler did its job; this makes sure before the next task.
        """
        me = os.getpid()
        for _ in range(1000):
            strays = [pid for pid, parent in parents().items() if parent == me and pid != keep]
            if not strays:
                return
            for pid in strays:
                try:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, os.WNOHANG)
                except (ProcessLookupError, ChildProcessError):
                    pass
            time.sleep(0.001)

    def _reply_for_lost_handler(self, started: dict[str, Any], status: int,
                                timed_out: bool) -> None:
        problems = clean_sandbox(self.private, self.wipe, self.keep)
        if timed_out:
            state, error = "timeout", (f"wall time limit of {started['timeout']} s exceeded and "
                                       "the task's supervisor stopped responding")
        else:
            how = (f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
                   if os.WIFSIGNALED(status) else f"exited with code {os.WEXITSTATUS(status)}")
            state, error = "crashed", f"the task's supervisor in the sandbox was {how}"
        reply: dict[str, Any] = {
            "op": "done", "id": started.get("id"), "status": state, "error": error,
            "notes": ["the task killed or stopped its supervisor; the sandbox recovered"],
            "resources": {"wall_s": round(time.monotonic() - started["at"], 4)}}
        if problems:
            reply["retire"] = True
            reply["notes"].append("cleanup failed: " + "; ".join(problems[:5]))
        send_message(self.resp_fd, reply)
        if problems:
            raise SystemExit("worker: could not clean up after a lost handler")


class Handler:
    """Serves exactly one request in a fresh fork of the zygote, then exits."""

    def __init__(self, config: dict[str, Any], seq: int, notify_fd: int) -> None:
        self.config = config
        self.private = bool(config["private"])
        self.scratch = Path(config["scratch"])
        self.wipe = [Path(p) for p in config["wipe"]]
        self.keep = [Path(p) for p in config.get("keep") or []]
        self.threads = int(config["threads"])
        self.req_fd, self.resp_fd = config["fds"]
        self.seq = seq
        self.notify_fd = notify_fd

    def _notify(self, event: str, **data: Any) -> None:
        os.write(self.notify_fd, json.dumps(dict(data, event=event)).encode() + b"\n")

    def serve_one(self) -> int:
        prctl(PR_SET_CHILD_SUBREAPER, 1)  # orphans of the task come to us, to be reaped & counted
        if not self.private:
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        try:
            header, blobs = Reader(self.req_fd).read_message()
        except PeerClosed:
            header, blobs = {"op": "exit"}, {}
        if header.get("op") != "run":
            self._notify("stop")
            return EXIT_STOP
        limits = header.get("limits", {})
        now = time.monotonic()
        self._notify("start", id=header.get("id"), at=now, timeout=limits.get("timeout"),
                     backstop=now + float(limits["timeout"]) + max(1.0, limits["grace"] / 2))
        try:
            reply, out_blobs = self.run_task(header, blobs)
        except Exception:
            problems = clean_sandbox(self.private, self.wipe, self.keep)
            reply = {"op": "done", "id": header.get("id"), "status": "crashed",
                     "error": "sandbox worker failure:\n" + traceback.format_exc(),
                     "retire": True, "notes": problems[:5]}
            out_blobs = {}
        send_message(self.resp_fd, reply, out_blobs)
        self._notify("stop" if reply.get("retire") else "replied")
        return EXIT_STOP if reply.get("retire") else EXIT_SERVED

    # ---- one task -------------------------------------------------------------------------
    def _rlimits(self, limits: dict[str, Any]) -> dict[str, list[int]]:
        import resource

        def capped(kind: int, want: int) -> list[int]:
            hard = resource.getrlimit(kind)[1]
            if hard != resource.RLIM_INFINITY:
                want = min(want, hard)
            return [want, want]

        cpu = math.ceil(float(limits["cpu"]))
        hard_cpu = resource.getrlimit(resource.RLIMIT_CPU)[1]
        address = max(_vm_bytes(), TORCH_ADDRESS_FLOOR) + int(limits["memory"])
        address_limit = capped(resource.RLIMIT_AS, address)
        if os.path.exists("/dev/nvidiactl"):
            # CUDA reserves far more address space than it uses: with a GPU in the sandbox,
            # memory is bounded by the worker's cgroup instead of RLIMIT_AS.
            address_limit = list(resource.getrlimit(resource.RLIMIT_AS))
        return {
            "AS": address_limit,
            "CPU": [cpu, cpu + 2 if hard_cpu == resource.RLIM_INFINITY else hard_cpu],
            "FSIZE": capped(resource.RLIMIT_FSIZE, int(limits["file_size"])),
            "CORE": [0, 0],
            "NOFILE": capped(resource.RLIMIT_NOFILE, int(limits["open_files"])),
            "NPROC": capped(resource.RLIMIT_NPROC, int(limits["max_procs"])),
        }

    def _env(self, base: Path, work: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if k in ("PATH", "LANG", "LC_ALL", "PYTHONDONTWRITEBYTECODE", "PYTHONNOUSERSITE")}
        tmp = Path("/tmp") if self.private else base / "tmp"
        tmp.mkdir(exist_ok=True)
        threads = str(self.threads)
        env.update(HOME=str(work), TMPDIR=str(tmp), MPLBACKEND="Agg",
                   MPLCONFIGDIR=str(base / "mpl"), OMP_NUM_THREADS=threads,
                   MKL_NUM_THREADS=threads, OPENBLAS_NUM_THREADS="1",
                   TORCH_HOME=str(base / "torch"), PYTHONHASHSEED="0")
        return env

    def run_task(self, header: dict[str, Any], blobs: dict[str, bytes]
                 ) -> tuple[dict[str, Any], dict[str, bytes]]:
        received = time.monotonic()
        task, request, limits = header.get("task"), header.get("request"), header["limits"]
        if task not in TASKS or not isinstance(request, dict):
            raise UnknownTask(f"refusing task {task!r}")
        base = self.scratch / f"task{self.seq}"
        work, out = base / "work", base / "out"
        for folder in (base, work, out):
            folder.mkdir(mode=0o700)
        for name, data in blobs.items():
            target = work / safe_relative(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            target.chmod(0o444)
        rlimits = self._rlimits(limits)
        env = self._env(base, work)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        procs = TaskProcesses(self.private)
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:  # the task process; never returns
            child_mod.run_child(task, request, base, work, out, out_w, err_w, rlimits, env,
                                self.threads)
        os.close(out_w)
        os.close(err_w)
        watch = _Supervision(pid, procs, limits, started, {out_r: "stdout", err_r: "stderr"})
        watch.supervise()
        ended = time.monotonic()
        wall = ended - started
        clean = procs.kill_all()
        watch.drain()
        for fd in (out_r, err_r):
            os.close(fd)
        reply, out_blobs = self._collect(watch, procs, base, out, limits, rlimits, wall)
        collected = time.monotonic()
        problems = [] if clean else ["task processes survived SIGKILL"]
        problems += clean_sandbox(self.private, self.wipe, self.keep)
        if problems:
            reply["retire"] = True
            reply.setdefault("notes", []).append("cleanup failed: " + "; ".join(problems[:5]))
        reply["id"] = header.get("id")
        reply["phases"] = {"setup_s": started - received, "task_s": wall,
                           "collect_s": collected - ended,
                           "cleanup_s": time.monotonic() - collected}
        return reply, out_blobs

    def _collect(self, watch: _Supervision, procs: TaskProcesses, base: Path, out: Path,
                 limits: dict[str, Any], rlimits: dict[str, list[int]], wall: float
                 ) -> tuple[dict[str, Any], dict[str, bytes]]:
        status_word = procs.reaped.statuses.get(watch.pid)
        code = sig = None
        if status_word is not None:
            if os.WIFSIGNALED(status_word):
                sig = os.WTERMSIG(status_word)
            else:
                code = os.WEXITSTATUS(status_word)
        cpu = procs.reaped.cpu_s
        signal_name = signal.Signals(sig).name if sig else None
        reply: dict[str, Any] = {
            "op": "done", "exit": {"code": code, "signal": signal_name},
            "killed": watch.killed, "rlimits": rlimits, "notes": [],
            "stdout": watch.text("stdout"), "stderr": watch.text("stderr"),
            "truncated": sorted(watch.truncated),
            "resources": {"wall_s": round(wall, 4), "cpu_s": round(cpu, 4),
                          "max_rss_bytes": procs.reaped.max_rss_bytes}}
        blobs: dict[str, bytes] = {}
        status, error = self._status(watch, code, sig, cpu, limits, base)
        if status == "ok":
            raw = _read_plain(base / child_mod.RESULT_FILE, int(limits["result"]))
            if raw is None:
                status, error = "output_limit", f"result JSON larger than {limits['result']} bytes"
            else:
                blobs["result"] = raw
        if status in ("ok", "error"):
            artifacts, problem = _read_artifacts(out, int(limits["artifacts"]))
            reply["notes"] += problem.notes
            if problem.over:
                status, error = "output_limit", problem.over
            else:
                blobs.update({f"artifact:{name}": data for name, data in artifacts.items()})
        reply.update(status=status, error=error)
        return reply, blobs

    def _status(self, watch: _Supervision, code: int | None, sig: int | None, cpu: float,
                limits: dict[str, Any], base: Path) -> tuple[str, str | None]:
        if watch.killed == "wall":
            return "timeout", f"wall time limit of {limits['timeout']} s exceeded"
        if watch.killed == "cpu":
            return "timeout", f"CPU time limit of {limits['cpu']} s exceeded (all processes)"
        if watch.killed == "output":
            return "output_limit", f"more than {limits['output_hard']} bytes of stdout/stderr"
        if sig is not None:
            name = signal.Signals(sig).name
            if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu >= float(limits["cpu"])):
                return "timeout", f"CPU time limit of {limits['cpu']} s exceeded ({name})"
            if sig == signal.SIGXFSZ:
                return "output_limit", f"a file larger than {limits['file_size']} bytes ({name})"
            return "crashed", f"the task process was killed by {name}"
        if code == child_mod.EXIT_RESULT and (base / child_mod.RESULT_FILE).exists():
            return "ok", None
        if code == child_mod.EXIT_ERROR:
            raw = _read_plain(base / child_mod.ERROR_FILE, 256 * 1024)
            try:
                report = json.loads(raw or b"")
                kind = report["kind"] if report["kind"] in ("memory", "output_limit") else "error"
                return kind, str(report["traceback"])
            except (ValueError, KeyError, TypeError):
                return "error", "the task failed and its error report is unreadable"
        return "crashed", f"the task process exited with code {code} without a result"


class _Supervision:
    """Watches one task: output pipes, wall clock, CPU of all task processes, the main exit."""

    def __init__(self, pid: int, procs: TaskProcesses, limits: dict[str, Any], started: float,
                 pipes: dict[int, str]) -> None:
        self.pid = pid
        self.procs = procs
        self.deadline = started + float(limits["timeout"])
        self.cpu_limit = float(limits["cpu"])
        self.cap = int(limits["output"])
        self.hard = int(limits["output_hard"])
        self.pipes = dict(pipes)  # still open
        self.names = dict(pipes)
        self.kept: dict[str, bytearray] = {name: bytearray() for name in pipes.values()}
        self.total = 0
        self.truncated: set[str] = set()
        self.killed: str | None = None
        try:
            self.pidfd: int | None = os.pidfd_open(pid)
        except (AttributeError, OSError):
            self.pidfd = None

    def _exited(self) -> bool:
        self.procs.reaped.reap()
        return self.pid in self.procs.reaped.statuses

    def supervise(self) -> None:
        next_cpu_check = 0.0
        try:
            while not self._exited():
                now = time.monotonic()
                if now >= self.deadline:
                    self.killed = "wall"
                    return
                if now >= next_cpu_check:
                    if self.procs.cpu_seconds() > self.cpu_limit:
                        self.killed = "cpu"
                        return
                    next_cpu_check = now + 0.25
                waits = list(self.pipes) + ([self.pidfd] if self.pidfd is not None else [])
                ready, _, _ = select.select(waits, [], [], min(POLL_S, self.deadline - now))
                for fd in ready:
                    if fd in self.pipes and not self._read(fd):
                        return
        finally:
            if self.pidfd is not None:
                os.close(self.pidfd)

    def _read(self, fd: int) -> bool:
        """Read what is there; False once the output volume forces the task to stop."""
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            del self.pipes[fd]
            return True
        name = self.names[fd]
        self.total += len(chunk)
        room = self.cap - len(self.kept[name])
        if room > 0:
            self.kept[name] += chunk[:room]
        if len(chunk) > room:
            self.truncated.add(name)
        if self.total > self.hard:
            self.killed = "output"
            return False
        return True

    def drain(self) -> None:
        """After every writer is dead: take what is left in the pipes (bounded by their size)."""
        for fd in list(self.pipes):
            os.set_blocking(fd, False)
            while fd in self.pipes:
                try:
                    if not self._read(fd):
                        break
                except BlockingIOError:
                    break

    def text(self, name: str) -> str:
        return self.kept[name].decode("utf-8", errors="replace")


def _read_plain(path: Path, cap: int) -> bytes | None:
    """A regular file's bytes, never following links or blocking on FIFOs; None if over `cap`."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return b""
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return b""
        if info.st_size > cap:
            return None
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(cap + 1)
        return None if len(data) > cap else data
    finally:
        os.close(fd)


class _ArtifactProblems:
    def __init__(self) -> None:
        self.notes: list[str] = []
        self.over: str | None = None


def _read_artifacts(out: Path, cap: int) -> tuple[dict[str, bytes], _ArtifactProblems]:
    """Plain files under out/ by relative path; links, FIFOs and devices are skipped with a note."""
    problems = _ArtifactProblems()
    found: dict[str, bytes] = {}
    total = 0
    for dirpath, dirnames, filenames in os.walk(out):
        dirnames.sort()
        for name in sorted(filenames) + [d for d in dirnames if os.path.islink(
                os.path.join(dirpath, d))]:
            path = Path(dirpath) / name
            rel = path.relative_to(out).as_posix()
            info = os.lstat(path)
            if not stat.S_ISREG(info.st_mode):
                problems.notes.append(f"artifact {rel} skipped: not a plain file")
                continue
            if len(found) >= MAX_ARTIFACT_FILES:
                problems.over = f"more than {MAX_ARTIFACT_FILES} artifact files"
                return {}, problems
            data = _read_plain(path, cap - total)
            if data is None:
                problems.over = f"artifacts larger than {cap} bytes in total"
                return {}, problems
            total += len(data)
            found[rel] = data
    return found, problems


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    zygote = Zygote(json.loads(argv[0]))
    zygote.start()
    zygote.serve()


if __name__ == "__main__":
    main()

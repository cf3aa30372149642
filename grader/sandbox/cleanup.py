"""Inside the sandbox, between tasks: find, kill and reap every task process; wipe what it wrote.

Runs in the warm worker (which is a child subreaper, so orphaned task processes are re-parented to
it and it can reap them and account for their CPU). In a private pid namespace "every process" is
simply every pid but bwrap's init (1) and the worker; without one (the loud fallback) it is the
worker's descendants, found by walking /proc.
"""

from __future__ import annotations

import ctypes
import os
import resource
import shutil
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 1, 4, 36, 38

_libc = ctypes.CDLL(None, use_errno=True)


def prctl(option: int, value: int) -> None:
    if _libc.prctl(option, value, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl({option}, {value}): {os.strerror(err)}")


def all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (which may contain spaces and parens)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read().decode("ascii", "replace")
    except OSError:
        return None
    return raw[raw.rfind(")") + 2:].split()


def parents() -> dict[int, int]:
    """pid -> parent pid of every visible process."""
    found = {}
    for pid in all_pids():
        fields = _stat_fields(pid)
        if fields:
            found[pid] = int(fields[1])
    return found


def descendants(root: int) -> set[int]:
    """Every live process below `root`, by parent links (the fallback's notion of "the task")."""
    children: dict[int, list[int]] = {}
    for pid, parent in parents().items():
        children.setdefault(parent, []).append(pid)
    found: set[int] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def cpu_seconds(pid: int) -> float:
    """CPU of a live process, its threads and the children it has already reaped itself."""
    fields = _stat_fields(pid)
    if not fields:
        return 0.0
    utime, stime, cutime, cstime = (int(fields[i]) for i in (11, 12, 13, 14))
    return (utime + stime + cutime + cstime) / CLK_TCK


@dataclass
class Reaped:
    """Exit statuses and rusage of task processes the worker has waited for."""

    cpu_s: float = 0.0
    max_rss_bytes: int = 0
    statuses: dict[int, int] = field(default_factory=dict)

    def reap(self) -> None:
        """Wait for every child that has exited, without blocking."""
        while True:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self._account(pid, status, usage)

    def _account(self, pid: int, status: int, usage: resource.struct_rusage) -> None:
        self.statuses[pid] = status
        self.cpu_s += usage.ru_utime + usage.ru_stime
        self.max_rss_bytes = max(self.max_rss_bytes, usage.ru_maxrss * 1024)


class TaskProcesses:
    """The processes a task may have started, and how to get rid of all of them."""

    def __init__(self, private_pid_namespace: bool) -> None:
        self.private = private_pid_namespace
        self.me = os.getpid()
        self.reaped = Reaped()
        if self.private and not _our_namespace():
            # kill(-1) outside a sandbox of ours would hit every process this user may signal.
            raise RuntimeError("refusing kill(-1): pid 1 is not the sandbox worker")

    def live(self) -> list[int]:
        if self.private:
            return [pid for pid in all_pids() if pid not in (1, self.me)]
        return sorted(descendants(self.me))

    def cpu_seconds(self) -> float:
        """All CPU the task has used so far: reaped processes plus live ones."""
        return self.reaped.cpu_s + sum(cpu_seconds(pid) for pid in self.live())

    def kill_all(self, patience: float = 10.0) -> bool:
        """SIGKILL everything until nothing is left and every zombie is reaped. False if it failed.

        In a private pid namespace kill(-1) reaches every process there except init and the
        caller, in one call that forking cannot outrun; the loop only mops up zombies.
        """
        deadline = time.monotonic() + patience
        while True:
            if self.private:
                try:
                    os.kill(-1, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            else:
                for pid in self.live():
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            self.reaped.reap()
            if not self.live():
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.001)


def _our_namespace() -> bool:
    """Is pid 1 the sandbox's zygote, i.e. are we inside a pid namespace of our own?"""
    try:
        with open("/proc/1/cmdline", "rb") as fh:
            return b"grader.sandbox.worker" in fh.read()
    except OSError:
        return False


def wipe_contents(directory: Path, keep: Iterable[Path | str] = ()) -> list[str]:
    """Remove everything inside `directory` (not the directory). Returns what could not go.

    A task may leave read-only or permission-less folders behind; those are made writable first.
    Symlinks are removed as links, never followed. `keep` are mount points inside `directory`
    (the interpreter's read-only binds when its venv lives under /tmp): they and the folders
    leading to them stay; everything else beside them goes.
    """
    kept = {Path(k) for k in keep}
    problems: list[str] = []
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return problems
    except OSError as exc:
        return [f"{directory}: {exc}"]
    for entry in entries:
        path = Path(entry.path)
        if path in kept:
            continue
        if any(path in k.parents for k in kept) and entry.is_dir(follow_symlinks=False):
            problems += wipe_contents(path, kept)
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                _make_tree_writable(path)
                shutil.rmtree(path)
            else:
                path.unlink()
        except OSError as exc:
            problems.append(f"{path}: {exc}")
    return problems


def _make_tree_writable(top: Path) -> None:
    """chmod u+rwx every folder, top first: a top-down walk then enters the ones just fixed."""
    try:
        os.chmod(top, 0o700)
    except OSError:
        pass
    for dirpath, dirnames, _ in os.walk(top):
        for name in dirnames:
            try:
                os.chmod(os.path.join(dirpath, name), 0o700, follow_symlinks=False)
            except (OSError, NotImplementedError):
                pass


IPC_RMID = 0
_IPC_KINDS = (("shm", "shmctl"), ("sem", "semctl"), ("msg", "msgctl"))


def remove_sysv_ipc() -> list[str]:
    """Delete every System V shared memory segment, semaphore set and message queue.

    Only called inside a private IPC namespace, where all of them were made by tasks.
    """
    problems: list[str] = []
    for kind, call in _IPC_KINDS:
        try:
            with open(f"/proc/sysvipc/{kind}") as fh:
                rows = fh.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            ident = int(row.split()[1])
            func = getattr(_libc, call)
            rc = func(ident, 0, IPC_RMID, None) if kind == "sem" else func(ident, IPC_RMID, None)
            if rc != 0:
                problems.append(f"sysv {kind} {ident}: {os.strerror(ctypes.get_errno())}")
    return problems

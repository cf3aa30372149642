"""Per-worker memory and pids cgroups (v1 or v2), created below our own cgroup when writable.

A cgroup bounds what rlimits cannot: the memory of all task processes together (tmpfs scratch
included) and the number of processes/threads, even for root. It also gives the trusted side its
own view of the sandbox: the OOM-kill counter tells "memory" from "crashed", and the member list
proves that nothing outlived a task.
"""

from __future__ import annotations

import itertools
import os
import signal
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_PREFIX = "grader-sbx"
_counter = itertools.count()


@dataclass(frozen=True)
class CgroupSupport:
    """Where per-worker cgroups can be made, or why not (`reason`)."""

    version: int | None = None
    memory_root: Path | None = None
    pids_root: Path | None = None
    reason: str | None = None

    @property
    def usable(self) -> bool:
        return self.version is not None


def _mounts() -> list[tuple[str, str, str, set[str]]]:
    """(root, mount point, fstype, super options) of every cgroup mount."""
    found = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            left, _, right = line.partition(" - ")
            fields, rfields = left.split(), right.split()
            if rfields and rfields[0] in ("cgroup", "cgroup2"):
                opts = set(rfields[2].split(",")) if len(rfields) > 2 else set()
                found.append((fields[3], fields[4], rfields[0], opts))
    return found


def _own_paths() -> dict[str, str]:
    """controller -> our cgroup path ("" key for the v2 hierarchy)."""
    paths: dict[str, str] = {}
    with open("/proc/self/cgroup") as fh:
        for line in fh:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for name in controllers.split(",") if controllers else [""]:
                paths[name] = path
    return paths


def _under(mount_root: str, mount_point: str, path: str) -> Path | None:
    rel = os.path.relpath(path, mount_root)
    if rel.startswith(".."):
        return None
    return Path(mount_point) / rel if rel != "." else Path(mount_point)


def _writable(parent: Path) -> bool:
    probe = parent / f"{_PREFIX}-probe-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    try:
        probe.mkdir()
        probe.rmdir()
        return True
    except OSError:
        return False


def detect() -> CgroupSupport:
    """v1 memory+pids controllers if writable, else v2 with both delegated, else the reason."""
    try:
        mounts, own = _mounts(), _own_paths()
    except OSError as exc:
        return CgroupSupport(reason=f"cannot read cgroup information: {exc}")
    v1: dict[str, Path] = {}
    for root, point, fstype, opts in mounts:
        for ctl in ("memory", "pids"):
            if fstype == "cgroup" and ctl in opts and ctl in own and ctl not in v1:
                where = _under(root, point, own[ctl])
                if where is not None and where.is_dir():
                    v1[ctl] = where
    if len(v1) == 2:
        if all(_writable(p) for p in v1.values()):
            _remove_stale(v1.values())
            return CgroupSupport(1, v1["memory"], v1["pids"])
        return CgroupSupport(reason="cgroup v1 memory/pids are mounted but not writable")
    for root, point, fstype, _ in mounts:
        if fstype == "cgroup2" and "" in own:
            where = _under(root, point, own[""])
            if where is None:
                continue
            controllers = (where / "cgroup.controllers").read_text().split() \
                if (where / "cgroup.controllers").exists() else []
            if not {"memory", "pids"} <= set(controllers):
                continue
            if _enable_v2(where) and _writable(where):
                _remove_stale([where])
                return CgroupSupport(2, where, where)
            return CgroupSupport(reason=f"cgroup v2 at {where} does not delegate memory+pids to us")
    return CgroupSupport(reason="no writable memory and pids cgroup controllers")


def _enable_v2(where: Path) -> bool:
    control = where / "cgroup.subtree_control"
    try:
        enabled = set(control.read_text().split())
        missing = {"memory", "pids"} - enabled
        if missing:
            control.write_text(" ".join(f"+{c}" for c in sorted(missing)))
        return True
    except OSError:
        return False  # e.g. our cgroup holds processes itself ("no internal processes" rule)


def _remove_stale(parents: Iterable[Path]) -> None:
    """Empty cgroups left by grader processes that died without cleaning up."""
    for parent in parents:
        for entry in Path(parent).glob(f"{_PREFIX}-*"):
            try:
                pid = int(entry.name.split("-")[2])
            except (IndexError, ValueError):
                continue
            if pid != os.getpid() and not Path(f"/proc/{pid}").exists():
                try:
                    entry.rmdir()
                except OSError:
                    pass


class WorkerCgroup:
    """The memory and pids cgroups of one warm worker's sandbox."""

    def __init__(self, support: CgroupSupport, memory_limit: int, pids_max: int) -> None:
        assert support.usable and support.memory_root and support.pids_root
        self.version = support.version
        name = f"{_PREFIX}-{os.getpid()}-{next(_counter)}-{uuid.uuid4().hex[:6]}"
        self.memory = support.memory_root / name
        self.pids = support.pids_root / name
        self.dirs = [self.memory] if self.memory == self.pids else [self.memory, self.pids]
        for d in self.dirs:
            d.mkdir()
        self.pids_max = pids_max
        self.memory_limit = 0
        if self.version == 1:
            _write(self.pids / "pids.max", str(pids_max))
        else:
            _write(self.pids / "pids.max", str(pids_max))
            _try_write(self.memory / "memory.swap.max", "0")
        self.set_memory_limit(memory_limit)

    # ---- configuration ---------------------------------------------------------------------
    def procs_files(self) -> list[str]:
        """Files a launcher writes its pid to, so it and everything it starts are inside."""
        return [str(d / "cgroup.procs") for d in self.dirs]

    def set_memory_limit(self, limit: int) -> None:
        if self.version == 1:
            # memory+swap must stay >= memory, so the order depends on the direction.
            order = ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"]
            if limit > self.memory_limit:
                order.reverse()
            for name in order:
                if name == "memory.limit_in_bytes":
                    _write(self.memory / name, str(limit))
                else:
                    _try_write(self.memory / name, str(limit))  # no swap way out
        else:
            _write(self.memory / "memory.max", str(limit))
        self.memory_limit = limit

    # ---- observation -----------------------------------------------------------------------
    def usage(self) -> int:
        name = "memory.usage_in_bytes" if self.version == 1 else "memory.current"
        return int(_read(self.memory / name) or 0)

    def reset_peak(self) -> None:
        if self.version == 1:
            _try_write(self.memory / "memory.max_usage_in_bytes", "0")
        else:
            _try_write(self.memory / "memory.peak", "0")  # resettable since Linux 6.12

    def peak(self) -> int | None:
        name = "memory.max_usage_in_bytes" if self.version == 1 else "memory.peak"
        value = _read(self.memory / name)
        return int(value) if value else None

    def oom_kills(self) -> int:
        name = "memory.oom_control" if self.version == 1 else "memory.events"
        for line in (_read(self.memory / name) or "").splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def pids_refusals(self) -> int:
        """How often a fork/clone was refused because the process cap was reached."""
        for line in (_read(self.pids / "pids.events") or "").splitlines():
            key, _, value = line.partition(" ")
            if key == "max":
                return int(value)
        return 0

    def members(self) -> list[int]:
        pids: set[int] = set()
        for d in self.dirs:
            pids.update(int(p) for p in (_read(d / "cgroup.procs") or "").split())
        return sorted(pids)

    # ---- teardown --------------------------------------------------------------------------
    def kill_all(self, patience: float = 5.0) -> bool:
        """SIGKILL every member until none is left (v2: cgroup.kill does it in one step)."""
        deadline = time.monotonic() + patience
        if self.version == 2:
            _try_write(self.memory / "cgroup.kill", "1")
        while True:
            members = self.members()
            if not members:
                return True
            for pid in members:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)

    def remove(self) -> None:
        self.kill_all()
        for d in self.dirs:
            for _ in range(50):  # the kernel needs a moment after the last member exits
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _write(path: Path, value: str) -> None:
    path.write_text(value)


def _try_write(path: Path, value: str) -> bool:
    try:
        path.write_text(value)
        return True
    except OSError:
        return False

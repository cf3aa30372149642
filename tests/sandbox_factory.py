"""Helpers for the sandbox tests: echo requests, host-side process scans, skip markers."""

from __future__ import annotations

import os
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from grader.sandbox import Limits
from grader.sandbox.cgroups import detect
from grader.sandbox.launch import probe_bwrap, read_only_binds

BWRAP = probe_bwrap()
needs_bwrap = pytest.mark.skipif(
    not BWRAP.works, reason=f"bubblewrap sandbox unavailable here: {BWRAP.reason}")
CGROUPS = detect()
needs_cgroups = pytest.mark.skipif(
    not CGROUPS.usable, reason=f"no writable memory+pids cgroups: {CGROUPS.reason}")

# Small, fast limits for tests; each test overrides what it is about.
FAST = Limits(timeout=15, cpu=30, memory=512 << 20, max_procs=64, grace=5)


def echo(code: str, result_expr: str | None = None, **extra: Any) -> dict[str, Any]:
    """An echo request; `code` is dedented so tests can indent it naturally."""
    request = {"task": "echo", "code": textwrap.dedent(code)}
    if result_expr is not None:
        request["result_expr"] = result_expr
    request.update(extra)
    return request


def token() -> str:
    """A unique word to find a test's processes and files on the host."""
    return f"sbxtest{uuid.uuid4().hex[:12]}"


def host_processes_with(word: str) -> list[int]:
    """Host pids whose command line mentions `word` (this process excluded)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if word.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def host_descendants(root: int) -> list[int]:
    """Host pids below `root` (a sandbox's outer process), found through /proc parent links."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent = int(stat[stat.rfind(")") + 2:].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def daemon_code(word: str, marker: str, delay: float = 2.0) -> str:
    """Echo code that leaves a double-forked, setsid'd shell behind which writes `marker` later."""
    return f"""
        import os, time
        pid = os.fork()
        if pid == 0:
            os.setsid()
            if os.fork() == 0:
                os.execv("/bin/sh", ["/bin/sh", "-c", "sleep {delay}; echo alive > {marker}",
                                     "{word}"])
            os._exit(0)
        os.waitpid(pid, 0)
        time.sleep(0.3)  # the grandchild is running when the task returns
    """


def wait_until(predicate: Any, timeout: float, step: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def tmp_mount_dirs() -> set[str]:
    """Top-level names in the sandbox's /tmp that are there before any task: the folders that
    lead to the interpreter's read-only binds when its venv lives under the host's /tmp."""
    return {p.relative_to("/tmp").parts[0] for p in read_only_binds()
            if p.is_relative_to("/tmp") and p != Path("/tmp")}

"""How many CPUs this container may really use.

Gradescope gives each run a fraction of a machine through a cgroup CPU quota (half a CPU by
default), while `os.cpu_count()` reports the host's cores. torch sizes its thread pool from the
latter; dozens of threads sharing half a CPU spend their time being throttled, so the sandbox's
thread count comes from the quota instead.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")


def _quota_v2(root: Path) -> float | None:
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        return None
    return None if quota == "max" else int(quota) / int(period)


def _quota_v1(root: Path) -> float | None:
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return None if quota <= 0 or period <= 0 else quota / period


def usable_cpus(root: Path = CGROUP) -> int:
    """The CPU quota rounded up (at least 1), capped by the CPUs this process may run on."""
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)
    quota = _quota_v2(root) or _quota_v1(root)
    if quota is None:
        return max(1, affinity)
    return max(1, min(affinity, math.ceil(quota)))

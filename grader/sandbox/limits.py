"""Resource limits for one sandboxed task, and the size syntax ("6G") of rubrics and the CLI."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
_UNITS = {"": 1, "B": 1, "K": KiB, "M": MiB, "G": GiB, "T": 1 << 40}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*$", re.IGNORECASE)


def parse_size(value: str | int | float) -> int:
    """Bytes from `4096`, `"512M"`, `"6G"`, `"1.5GiB"`; units are binary (G = 2**30)."""
    if isinstance(value, bool):
        raise ValueError(f"not a size: {value!r}")
    if isinstance(value, int | float):
        if value < 0 or not math.isfinite(value):
            raise ValueError(f"not a size: {value!r}")
        return int(value)
    match = _SIZE.match(str(value))
    if not match:
        raise ValueError(f"not a size: {value!r} (use e.g. 512M, 6G)")
    number, unit = match.groups()
    return int(float(number) * _UNITS[unit.upper()])


def format_size(n: int) -> str:
    """Short human form, the inverse of `parse_size` up to rounding."""
    for unit, scale in (("G", GiB), ("M", MiB), ("K", KiB)):
        if n >= scale:
            value = n / scale
            return f"{value:.0f}{unit}" if value == int(value) else f"{value:.1f}{unit}"
    return f"{n}B"


@dataclass(frozen=True)
class Limits:
    """What one task may use. Defaults suit grading small CNNs on CPU; notebooks want `--timeout`.

    `memory` is the task's own budget on top of what the warm worker already holds (its preloaded
    torch is shared copy-on-write). `cpu` counts every process of the task together.
    """

    timeout: float = 120.0          # wall seconds
    cpu: float = 240.0              # CPU seconds, all task processes together
    memory: int = 4 * GiB           # bytes the task may add (cgroup), also its address-space budget
    max_procs: int = 128            # processes + threads of one worker's sandbox (pids cgroup)
    open_files: int = 1024          # RLIMIT_NOFILE (DataLoader workers and kernels need some)
    file_size: int = 256 * MiB      # RLIMIT_FSIZE: largest single file the task may write
    scratch: int = 1 * GiB          # size of each writable tmpfs (/scratch, /tmp, /dev/shm)
    output: int = 256 * KiB         # stdout and stderr kept, each
    output_hard: int = 16 * MiB     # stdout+stderr beyond this stop the task: output_limit
    result: int = 16 * MiB          # result JSON
    artifacts: int = 256 * MiB      # all artifact files together
    inputs: int = 256 * MiB         # all input files together
    grace: float = 15.0             # seconds past `timeout` the trusted side waits for a reply

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"limit {field.name} must be a positive number, got {value!r}")

    def replace(self, **changes: Any) -> Limits:
        return dataclasses.replace(self, **changes)

    def with_overrides(self, timeout: float | str | None = None, memory: str | int | None = None,
                       cpu: float | str | None = None) -> Limits:
        """Apply CLI (`--timeout 300 --memory 6G`) or rubric `limits:` values; None keeps.

        A longer timeout also raises the CPU budget unless `cpu` is given, so that `--timeout`
        alone is enough to let a long notebook run.
        """
        changes: dict[str, Any] = {}
        if timeout is not None:
            changes["timeout"] = float(timeout)
            if cpu is None:
                changes["cpu"] = max(self.cpu, 2.0 * float(timeout))
        if cpu is not None:
            changes["cpu"] = float(cpu)
        if memory is not None:
            changes["memory"] = parse_size(memory)
        return self.replace(**changes)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None, base: Limits | None = None) -> Limits:
        """From a rubric's `limits:` block (`timeout`, `memory`, `cpu`) or a full field dict."""
        base = base or cls()
        values = dict(values or {})
        simple = {k: values.pop(k) for k in ("timeout", "memory", "cpu") if k in values}
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown limits: {sorted(unknown)}")
        sized = {k: parse_size(v) if isinstance(v, str) else v for k, v in values.items()}
        return base.replace(**sized).with_overrides(**simple)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

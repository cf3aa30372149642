"""What a sandboxed task produced, as plain data (the contract in docs/architecture.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["ok", "error", "timeout", "memory", "crashed", "output_limit"]
STATUSES: tuple[str, ...] = ("ok", "error", "timeout", "memory", "crashed", "output_limit")


@dataclass
class Outcome:
    """One task's result. Only `status == "ok"` guarantees `result` is the task's own return value.

    `error` holds the traceback text when the task raised (or a one-line reason for the other
    failures); `truncated` names the streams that were cut to the output cap.
    """

    status: Status
    result: dict[str, Any] | None = None
    artifacts: dict[str, bytes] = field(default_factory=dict)
    stdout: str = ""
    stderr: str = ""
    resources: dict[str, Any] = field(default_factory=dict)
    isolation: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    truncated: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def summary(self) -> str:
        """One line for logs and test failure messages."""
        tail = (self.error or "").strip().splitlines()[-1:] or [""]
        return f"{self.status}: {tail[0]}"[:300]

    def to_dict(self, with_artifacts: bool = False) -> dict[str, Any]:
        """JSON-able view; artifacts as names and sizes unless asked for (they are bytes)."""
        return {
            "status": self.status, "result": self.result, "error": self.error,
            "artifacts": ({k: v.hex() for k, v in self.artifacts.items()} if with_artifacts
                          else {k: len(v) for k, v in self.artifacts.items()}),
            "stdout": self.stdout, "stderr": self.stderr, "truncated": list(self.truncated),
            "resources": dict(self.resources), "isolation": dict(self.isolation),
        }

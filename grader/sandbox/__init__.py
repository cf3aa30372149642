"""Sandbox stage: run untrusted student code isolated and limited; return observations as data.

`Sandbox` keeps warm, torch-preloaded workers inside bubblewrap and forks a fresh child per task;
`run_once` does the same for one task in a sandbox of its own. See docs/architecture.md.
"""

from grader.sandbox.launch import SandboxUnavailable
from grader.sandbox.limits import Limits, format_size, parse_size
from grader.sandbox.outcome import STATUSES, Outcome
from grader.sandbox.pool import Sandbox, run_once

__all__ = ["Limits", "Outcome", "STATUSES", "Sandbox", "SandboxUnavailable", "format_size",
           "parse_size", "run_once"]

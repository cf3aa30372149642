"""The only task modules a sandbox worker will run. A request names one of these keys.

Each module exposes `run(request: dict, out_dir: pathlib.Path) -> dict` and runs inside the
forked task process, never in the trusted parent (the warm worker, inside the sandbox, may
preload the modules; each task still runs in a fresh fork of it).
"""

from __future__ import annotations

import importlib
from types import ModuleType

TASKS: dict[str, str] = {
    "echo": "grader.sandbox.tasks.echo",          # diagnostics and isolation tests
    "observe": "grader.sandbox.tasks.observe",    # build the student's models, record observations
    "notebook": "grader.sandbox.tasks.notebook",  # execute a whole notebook with nbclient
    "cells": "grader.sandbox.tasks.cells",        # the same, in the warm task process
    "train": "grader.sandbox.tasks.train",        # train a student's model under a budget
    "writeup": "grader.sandbox.tasks.writeup",    # read a write-up PDF into lines
}


class UnknownTask(ValueError):
    """A request named a task that is not on the allowlist."""


def check_task(name: object) -> str:
    if not isinstance(name, str) or name not in TASKS:
        raise UnknownTask(f"unknown sandbox task {name!r}; known: {sorted(TASKS)}")
    return name


def load_task(name: object) -> ModuleType:
    """Import an allowlisted task module; anything else is refused before any import happens."""
    module = importlib.import_module(TASKS[check_task(name)])
    if not callable(getattr(module, "run", None)):
        raise UnknownTask(f"task module {TASKS[name]} has no run(request, out_dir)")  # type: ignore[index]
    return module

"""Sandbox task `cells`: run a prepared notebook's cells in the task process itself.

The same request and result as the `notebook` task (grader.ingest.prelude builds both), but no
Jupyter kernel: the cells run one after another in this forked task process, which already has
torch imported by the warm worker. Starting a kernel and importing torch in it cost about three
seconds a notebook; the cells of a typical fine-tuning part take a fraction of that.

What a kernel would give the prelude is provided by `Shell`, a small stand-in for IPython's
shell: `user_ns` (the notebook's globals, `__name__ == "__main__"`), `ast_transformers` applied
to each cell, and the `pre_run_cell` / `post_run_cell` events. A cell runs whole, as in a
kernel: its first exception ends it, the next cell still runs. A cell longer than its time is
interrupted (`SIGUSR1` from a watchdog thread, so the prelude's own `SIGALRM` budget is left
alone). Printed output is discarded. A hard crash ends the whole task (the kernel task would
have said which cell crashed; here the outcome says the process crashed).
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import io
import json
import linecache
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grader.sandbox.tasks.notebook_files import (
    CAPTURE_FILE,
    TIMEOUT_ENAME,
    captured_in_cells,
    timeouts,
    write_local_files,
)

CELL_FILE = "<grader-cell-{}>"


class CellTimeout(BaseException):
    """Raised in the main thread when a cell runs past its time (never swallowed by `except
    Exception` in the student's code)."""


class _Events:
    def __init__(self) -> None:
        self.handlers: dict[str, list[Callable[..., Any]]] = {}

    def register(self, name: str, handler: Callable[..., Any]) -> None:
        self.handlers.setdefault(name, []).append(handler)

    def trigger(self, name: str, *args: Any) -> None:
        for handler in list(self.handlers.get(name, [])):
            handler(*args)


class Shell:
    """The parts of IPython's interactive shell the grading prelude uses."""

    def __init__(self) -> None:
        self.user_ns: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins,
                                        "display": lambda *a, **k: None}
        self.user_ns["get_ipython"] = lambda: self
        self.ast_transformers: list[ast.NodeTransformer] = []
        self.events = _Events()

    def compile_cell(self, source: str, filename: str) -> Any:
        # Tracebacks read a frame's source line through linecache, as they do for a kernel's.
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        tree = ast.parse(source, filename)
        for transformer in self.ast_transformers:
            tree = transformer.visit(tree)
        ast.fix_missing_locations(tree)
        return compile(tree, filename, "exec", dont_inherit=True)


@contextlib.contextmanager
def _deadline(seconds: float):
    """Interrupt the main thread with CellTimeout after `seconds` (a watchdog thread)."""
    main = threading.get_ident()
    done = threading.Event()

    def interrupt(_signum: int, _frame: Any) -> None:
        raise CellTimeout()

    previous = signal.signal(signal.SIGUSR1, interrupt)

    def watch() -> None:
        if not done.wait(seconds):
            signal.pthread_kill(main, signal.SIGUSR1)

    watcher = threading.Thread(target=watch, daemon=True, name="cell-deadline")
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()
        signal.signal(signal.SIGUSR1, previous)


def _traceback(exc: BaseException, labels: dict[str, str], workdir: str) -> list[str]:
    """'cell 12, line 4: code' for the student's frames only, then the error line."""
    out = []
    for frame in traceback.extract_tb(exc.__traceback__):
        where = labels.get(frame.filename)
        if where is None and os.path.isfile(frame.filename):   # a module the student wrote
            path = os.path.realpath(frame.filename)
            if path.startswith(workdir + os.sep):
                where = os.path.relpath(path, workdir)
        if where is not None:
            out.append(f"{where}, line {frame.lineno}: {(frame.line or '').strip()}")
    out.append(f"{type(exc).__name__}: {exc}".strip())
    return out


def _run_cell(shell: Shell, source: str, filename: str, seconds: float) -> dict[str, Any]:
    begin = time.monotonic()
    sink = io.StringIO()
    shell.events.trigger("pre_run_cell", None)
    try:
        with _deadline(seconds), contextlib.redirect_stdout(sink), \
                contextlib.redirect_stderr(sink):
            exec(shell.compile_cell(source, filename), shell.user_ns)
        status: dict[str, Any] = {"status": "ok"}
    except CellTimeout:
        status = {"status": "timeout", "ename": TIMEOUT_ENAME,
                  "evalue": f"the cell ran longer than {seconds:.0f} s", "traceback": []}
    except BaseException as exc:   # SystemExit and KeyboardInterrupt end only their cell
        status = {"status": "error", "ename": type(exc).__name__,
                  "evalue": str(exc)[:2000], "exception": exc}
    finally:
        shell.events.trigger("post_run_cell", None)
    status["elapsed_s"] = round(time.monotonic() - begin, 3)
    return status


def run(request: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """Run the prelude and the student's cells in this process; the notebook task's result."""
    started = time.monotonic()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    raw = request["notebook"]
    nb = json.loads(raw) if isinstance(raw, str) else raw
    cell_timeout, prelude_timeout, total = timeouts(request)
    workdir = os.path.realpath(os.getcwd())
    write_local_files(request.get("files"), workdir)
    capture = (out_dir / CAPTURE_FILE).resolve()
    os.environ.update(GRADER_CAPTURE_PATH=str(capture), MPLBACKEND="Agg")
    shell = Shell()
    labels: dict[str, str] = {}
    cells: list[dict[str, Any]] = []
    sequence: list[str] = []
    prelude: dict[str, Any] = {"status": "not_run"}
    stop = False
    for index, cell in enumerate(nb.get("cells") or []):
        if cell.get("cell_type") != "code":
            continue
        meta = (cell.get("metadata") or {}).get("grader") or {}
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        is_prelude = meta.get("role") == "prelude"
        label = "prelude" if is_prelude else (meta.get("label") or f"cell {meta.get('cell')}")
        filename = CELL_FILE.format(index)
        labels[filename] = label
        left = None if total is None else float(total) - (time.monotonic() - started)
        if stop or (left is not None and left <= 1):
            status: dict[str, Any] = {"status": "not_run", "elapsed_s": 0.0}
        elif not source.strip():
            status = {"status": "skipped", "elapsed_s": 0.0}
        else:
            seconds = prelude_timeout if is_prelude else cell_timeout
            status = _run_cell(shell, source, filename,
                               seconds if left is None else min(seconds, left))
        exc = status.pop("exception", None)
        if is_prelude:
            if exc is not None:
                status["traceback"] = _traceback(exc, labels, workdir)[-5:]
            prelude = status
            stop = status["status"] != "ok"   # never run student code without its guards
            continue
        if status["status"] not in ("skipped", "not_run"):
            sequence.append(label)
        if meta.get("syntax") and status["status"] == "error":
            syntax = meta["syntax"]
            status.update(ename="SyntaxError", evalue=syntax["message"], traceback=[
                f"{label}, line {syntax['line']}: {syntax['text']}",
                f"SyntaxError: {syntax['message']}"])
        elif exc is not None:
            status["traceback"] = _traceback(exc, labels, workdir)
        cells.append({"cell": meta.get("cell"), "label": label, **status})
    sys.stdout.flush()
    captured = captured_in_cells(capture, sequence)
    return {"cells": cells, "prelude": prelude, "captured": captured.get("calls", []),
            "events": captured.get("events", []), "kernel_error": None,
            "elapsed_s": round(time.monotonic() - started, 3)}

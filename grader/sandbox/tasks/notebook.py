"""Sandbox task `notebook`: execute a prepared notebook (see grader.ingest.prelude) in a kernel.

Request (JSON): {"notebook": nbformat dict or JSON text, "files": {"models.py": text},
"cell_timeout": s, "prelude_timeout": s, "timeout": s total (optional),
"kernel": "python3", "save_notebook": false}. If the prelude (first cell) fails, no student
cell runs. The local modules are written to a fresh working folder, each cell
runs with `allow_errors`, and the result says per student cell whether it ran (ok / error /
timeout / crashed / not_run / skipped), the error mapped to the student's cells, and what the
prelude captured (calls of e.g. `train`, as data).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import nbformat
from jupyter_client.kernelspec import NoSuchKernel
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from grader.sandbox.tasks.notebook_files import (
    CAPTURE_FILE,
    TIMEOUT_ENAME,
    captured_in_cells,
    timeouts,
    write_local_files,
)

_QUIET = logging.getLogger("grader.sandbox.notebook")   # nbclient logs timeouts as errors
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False
_QUIET.setLevel(logging.CRITICAL)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_CELL_FRAME = re.compile(r"^\s*(?:Cell|Input) In ?\[(\d+)\], line (\d+)")
_FILE_FRAME = re.compile(r"^\s*File (.+?):(\d+)(?:, in .*)?$")
_ARROW = re.compile(r"^\s*-+>\s*(\d+)\s?(.*)$")


def map_traceback(lines: list[str], labels: dict[int, str], workdir: str) -> list[str]:
    """IPython traceback lines -> 'cell 12, line 4: code' for the student's frames only."""
    text = "\n".join(_ANSI.sub("", line) for line in lines).splitlines()
    out: list[str] = []
    where: str | None = None
    for raw in text:
        cell = _CELL_FRAME.match(raw)
        file = _FILE_FRAME.match(raw)
        arrow = _ARROW.match(raw)
        if cell:
            label = labels.get(int(cell[1]))
            where = f"{label}, line {cell[2]}" if label else None
            if where:
                out.append(where)
        elif file:
            path = os.path.realpath(file[1])
            where = None
            if path.startswith(workdir + os.sep):
                where = f"{os.path.relpath(path, workdir)}, line {file[2]}"
                out.append(where)
        elif arrow and where and out and out[-1] == where:
            out[-1] = f"{where}: {arrow[2].strip()}"
    final = [line for line in text if line.strip()]
    if final and not _CELL_FRAME.match(final[-1]):
        out.append(final[-1].strip())
    return out


def run(request: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """Execute the notebook; per-cell status, the captured calls and the elapsed time."""
    started = time.monotonic()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    raw = request["notebook"]
    nb = nbformat.reads(raw if isinstance(raw, str) else json.dumps(raw), as_version=4)
    cell_timeout, prelude_timeout, total = timeouts(request)
    workdir = os.path.realpath(tempfile.mkdtemp(prefix="grader-notebook-"))
    write_local_files(request.get("files"), workdir)
    capture = out_dir / CAPTURE_FILE
    private = Path(workdir, ".grader")   # kernel files; HOME may be read-only in a sandbox
    private.mkdir()
    env = dict(os.environ, GRADER_CAPTURE_PATH=str(capture.resolve()), MPLBACKEND="Agg",
               PYTHONHASHSEED="0", PYDEVD_DISABLE_FILE_VALIDATION="1",
               IPYTHONDIR=str(private / "ipython"), MPLCONFIGDIR=str(private / "mpl"),
               JUPYTER_RUNTIME_DIR=str(private / "runtime"))
    km = AsyncKernelManager(kernel_name=request.get("kernel") or "python3", transport="ipc",
                            ip=str(private / "kernel"),
                            connection_file=str(private / "connection.json"))
    client = NotebookClient(
        nb, km=km, timeout=int(cell_timeout), allow_errors=True, interrupt_on_timeout=True,
        error_on_timeout={"ename": TIMEOUT_ENAME,
                          "evalue": f"the cell ran longer than {cell_timeout:.0f} s",
                          "traceback": []},
        record_timing=False, startup_timeout=60, shutdown_kernel="immediate",
        resources={"metadata": {"path": workdir}},
        log=_QUIET)
    replies: dict[int, dict] = {}
    client.on_cell_executed = lambda **kw: replies.__setitem__(kw["cell_index"],
                                                               kw["execute_reply"])
    cells: list[dict[str, Any]] = []
    counts: dict[int, str] = {}      # kernel execution count -> label (for tracebacks)
    sequence: list[str | None] = []  # labels of the cells sent after the prelude, in order
    prelude: dict[str, Any] = {"status": "not_run"}
    kernel_error: str | None = None
    stop = False
    try:
        # we made the kernel manager, so say explicitly that the kernel must not outlive us
        with client.setup_kernel(env=env, cleanup_kc=True):
            for index, cell in enumerate(nb.cells):
                meta = cell.get("metadata", {}).get("grader", {})
                if cell.cell_type != "code":
                    continue
                is_prelude = meta.get("role") == "prelude"
                status = _execute(client, cell, index, replies, started, total,
                                  prelude_timeout if is_prelude else cell_timeout, stop)
                count = status.pop("execution_count", None)
                if is_prelude:
                    prelude = status
                    # never run student code without the prelude's guards
                    stop = status["status"] != "ok"
                    continue
                stop = stop or status["status"] == "crashed"
                label = meta.get("label") or f"cell {meta.get('cell')}"
                if count is not None:
                    counts[int(count)] = label
                if status["status"] not in ("skipped", "not_run"):
                    sequence.append(label)
                if meta.get("syntax") and status["status"] == "error":
                    syntax = meta["syntax"]
                    status.pop("raw_traceback", None)
                    status.update(ename="SyntaxError", evalue=syntax["message"], traceback=[
                        f"{label}, line {syntax['line']}: {syntax['text']}",
                        f"SyntaxError: {syntax['message']}"])
                cells.append({"cell": meta.get("cell"), "label": label, **status})
    except (NoSuchKernel, RuntimeError, TimeoutError, OSError) as exc:   # no kernel: ours to fix
        kernel_error = f"{type(exc).__name__}: {exc}"
        done = {c["cell"] for c in cells}
        cells.extend({"cell": c.metadata["grader"].get("cell"),
                      "label": c.metadata["grader"].get("label"), "status": "not_run",
                      "elapsed_s": 0.0}
                     for c in nb.cells if c.cell_type == "code"
                     and c.get("metadata", {}).get("grader", {}).get("cell") not in done
                     and c.metadata["grader"].get("role") != "prelude")
    finally:
        captured = captured_in_cells(capture, sequence)
        shutil.rmtree(workdir, ignore_errors=True)
    for entry in cells:
        if entry.get("raw_traceback") is not None:
            entry["traceback"] = map_traceback(entry.pop("raw_traceback"), counts, workdir)
    if prelude.get("raw_traceback") is not None:
        prelude["traceback"] = [_ANSI.sub("", x) for x in prelude.pop("raw_traceback")][-5:]
    if request.get("save_notebook"):
        (out_dir / "executed.ipynb").write_text(nbformat.writes(nb), encoding="utf-8")
    return {"cells": cells, "prelude": prelude, "captured": captured.get("calls", []),
            "events": captured.get("events", []), "kernel_error": kernel_error,
            "elapsed_s": round(time.monotonic() - started, 3)}


def _execute(client: NotebookClient, cell: Any, index: int, replies: dict[int, dict],
             started: float, total: float | None, cell_timeout: float, stop: bool
             ) -> dict[str, Any]:
    if stop:
        return {"status": "not_run", "elapsed_s": 0.0}
    if not cell.source.strip():
        return {"status": "skipped", "elapsed_s": 0.0}
    if total is not None:
        left = float(total) - (time.monotonic() - started)
        if left <= 1:
            return {"status": "not_run", "elapsed_s": 0.0}
        cell_timeout = min(cell_timeout, left)
    client.timeout = int(max(1, cell_timeout))
    begin = time.monotonic()
    try:
        client.execute_cell(cell, index)
    except DeadKernelError:
        return {"status": "crashed", "elapsed_s": round(time.monotonic() - begin, 3),
                "ename": "DeadKernelError", "evalue": "the kernel died (memory or a crash)"}
    except CellTimeoutError:
        return {"status": "timeout", "elapsed_s": round(time.monotonic() - begin, 3)}
    elapsed = round(time.monotonic() - begin, 3)
    content = (replies.get(index) or {}).get("content", {})
    result: dict[str, Any] = {"status": "ok", "elapsed_s": elapsed,
                              "execution_count": content.get("execution_count")}
    if content.get("status") == "error":
        timed_out = content.get("ename") == TIMEOUT_ENAME
        result.update(status="timeout" if timed_out else "error", ename=content.get("ename"),
                      evalue=content.get("evalue"),
                      raw_traceback=list(content.get("traceback") or []))
    return result

"""Run a student's notebook for its *effects*, under a grading prelude.

Some rubric questions grade what top-level code does (the 2020 fine-tuning part swaps
`model.classifier[4]` and freezes the model, then calls `train(args, model)`). For those we run
the cleaned notebook in a kernel whose first cell is a prelude (see `kernel_runtime`): no
downloads, local random-weight models, off-screen plots, and the calls of captured functions
recorded as data instead of run. This module only *builds* that notebook; the sandbox task
`grader/sandbox/tasks/notebook.py` executes it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import nbformat

from grader.ingest.cells import CleanCell
from grader.ingest.slicing import clean_cells, futures_of
from grader.ingest.submission import Submission

DEFAULT_HUB_MODELS: dict[str, str] = {
    "deeplabv3_resnet101": "deeplabv3_mobilenet_v3_large",
    "deeplabv3_resnet50": "deeplabv3_mobilenet_v3_large",
}
DEFAULT_WATCH = ("classifier.4", "aux_classifier.4")
RUNTIME_MODULE = "_grader_runtime"


def runtime_source() -> str:
    """The text of `kernel_runtime.py`, inlined into the prelude (no `grader` import needed)."""
    return (Path(__file__).with_name("kernel_runtime.py")).read_text(encoding="utf-8")


def prelude_config(*, capture: Iterable[str] = ("train",),
                   hub_models: Mapping[str, str] | None = None, mode: str = "skip",
                   budget_s: float | None = None, watch: Iterable[str] = DEFAULT_WATCH,
                   max_calls: int = 20) -> dict[str, Any]:
    if mode not in ("skip", "run"):
        raise ValueError(f"mode must be 'skip' or 'run', not {mode!r}")
    return {"capture": list(capture), "mode": mode, "budget_s": budget_s,
            "hub_models": dict(DEFAULT_HUB_MODELS if hub_models is None else hub_models),
            "watch": list(watch), "max_calls": max_calls, "record": "grader_capture.json"}


def prelude_source(config: Mapping[str, Any] | None = None,
                   futures: Iterable[str] = ()) -> str:
    """The prelude cell: student `__future__` imports first, then install the runtime."""
    config = dict(config or prelude_config())
    lines = [f"from __future__ import {feature}" for feature in futures]
    lines += [
        "# Grading prelude (added by the grader; not part of the submission).",
        "def _grader_prelude():",
        "    import sys",
        "    import types",
        f"    module = types.ModuleType({RUNTIME_MODULE!r})",
        f"    sys.modules[{RUNTIME_MODULE!r}] = module",
        f"    exec(compile({runtime_source()!r}, '<grader-prelude>', 'exec'), module.__dict__)",
        f"    module.install(__import__('json').loads({json.dumps(config)!r}), get_ipython())",
        "",
        "",
        "_grader_prelude()",
        "del _grader_prelude",
    ]
    return "\n".join(lines) + "\n"


def _syntax_cell(clean: CleanCell) -> str:
    err = clean.error
    assert err is not None
    return f"raise SyntaxError({f'{err.message} (line {err.line}): {err.text}'!r})\n"


def prepare_notebook(submission: Submission, *, capture: Iterable[str] = ("train",),
                     hub_models: Mapping[str, str] | None = None, mode: str = "skip",
                     budget_s: float | None = None,
                     watch: Iterable[str] = DEFAULT_WATCH) -> nbformat.NotebookNode:
    """The submission's notebook cells, cleaned, after a prelude cell; outputs cleared.

    Each cell's metadata `grader` says which student cell it is (`cell`, `label`), and for a
    cell that does not compile, the syntax error (`syntax`), so results map back exactly.
    """
    config = prelude_config(capture=capture, hub_models=hub_models, mode=mode,
                            budget_s=budget_s, watch=watch)
    cleaned = {c.index: c for c in clean_cells(submission)}
    futures = list(futures_of(list(cleaned.values())))
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    prelude = nbformat.v4.new_code_cell(prelude_source(config, futures))
    prelude.metadata["grader"] = {"role": "prelude"}
    nb.cells.append(prelude)
    for cell in _executable_cells(submission):
        meta: dict[str, Any] = {"cell": cell.index, "label": submission.label(cell.index)}
        if cell.kind == "markdown":
            new = nbformat.v4.new_markdown_cell(cell.source)
        elif cell.kind == "raw":
            new = nbformat.v4.new_raw_cell(cell.source)
        else:
            clean = cleaned[cell.index]
            if clean.error is not None:
                meta["syntax"] = {"line": clean.error.line, "message": clean.error.message,
                                  "text": clean.error.text}
                new = nbformat.v4.new_code_cell(_syntax_cell(clean))
            else:
                new = nbformat.v4.new_code_cell(clean.source)
        new.metadata["grader"] = meta
        nb.cells.append(new)
    for number, cell in enumerate(nb.cells):
        cell["id"] = f"grader-{number}"
    return nb


def _executable_cells(submission: Submission) -> list:
    """Notebook cells; for a submission of `.py` modules only, the modules nothing imports."""
    notebook = [c for c in submission.cells if c.file and c.file.endswith(".ipynb")]
    if notebook:
        return notebook
    modules = [c for c in submission.cells if c.is_module]
    imported: set[str] = set()
    for cell in modules:
        for other in modules:
            stem = Path(str(other.file)).stem
            if other is not cell and (f"import {stem}" in cell.source or
                                      f"from {stem} " in cell.source):
                imported.add(str(other.file))
    roots = [c for c in modules if c.file not in imported]
    return roots or modules


def notebook_request(submission: Submission, *, cell_timeout: float = 120,
                     timeout: float | None = None, kernel: str = "python3",
                     **prelude: Any) -> dict[str, Any]:
    """A JSON-able request for the sandbox task `notebook` (notebook + the local modules)."""
    nb = prepare_notebook(submission, **prelude)
    files = {name: data.decode("utf-8", "replace") for name, data in submission.files.items()
             if name.endswith(".py")}
    return {"task": "notebook", "notebook": json.loads(nbformat.writes(nb)), "files": files,
            "cell_timeout": cell_timeout, "timeout": timeout, "kernel": kernel}

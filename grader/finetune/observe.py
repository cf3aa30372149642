"""Trusted side of the fine-tuning checks: run the notebook, turn what it recorded into data.

The notebook runs in the sandbox under the grading prelude (`grader.ingest.prelude`) plus the
fine-tuning hooks (`kernel_hooks.py`): every `train(...)` call is recorded; the fine-tuning one
(`train(args, model)` with the DeepLabV3) really runs, on tiny substituted data, for a couple of
optimizer steps. `finetune_measured` returns the Measured dict for the target; the verdicts are
made by `grader.checks.finetune`. Nothing here imports `reference`.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

from grader.ingest.prelude import notebook_request
from grader.ingest.problems import Problem
from grader.ingest.submission import Submission
from grader.sandbox.outcome import Outcome
from grader.sandbox.pool import Sandbox

HEAD = "classifier.4"
WATCH = (HEAD, "aux_classifier.4")
HOOKS_MODULE = "_grader_finetune"
DEFAULT_HOOKS: dict[str, Any] = {"max_steps": 2, "max_runs": 2, "batch": 2, "budget_s": 30.0}
OUTCOME_PROBLEMS = {"timeout": ("timeout", "the notebook did not finish within the time limit"),
                    "memory": ("memory", "the notebook ran out of memory"),
                    "crashed": ("crashed", "the notebook's process crashed"),
                    "output_limit": ("limit", "the notebook produced too much output")}
RAN = ("completed", "stopped", "raised")
SANDBOX_MARGIN_S = 20.0


def hooks_source(settings: dict[str, Any] | None = None) -> str:
    """Code appended to the prelude cell: load `kernel_hooks.py` as a module and install it."""
    text = Path(__file__).with_name("kernel_hooks.py").read_text(encoding="utf-8")
    config = json.dumps(dict(DEFAULT_HOOKS, **(settings or {})))
    return "\n".join([
        "",
        "# Fine-tuning hooks (added by the grader; not part of the submission).",
        "def _grader_finetune_hooks():",
        "    import sys",
        "    import types",
        f"    module = types.ModuleType({HOOKS_MODULE!r})",
        f"    sys.modules[{HOOKS_MODULE!r}] = module",
        f"    exec(compile({text!r}, '<grader-finetune>', 'exec'), module.__dict__)",
        f"    module.install(__import__('json').loads({config!r}))",
        "",
        "",
        "_grader_finetune_hooks()",
        "del _grader_finetune_hooks",
        "",
    ])


def finetune_request(submission: Submission, *, target: str = "train",
                     cell_timeout: float = 90, timeout: float | None = None,
                     hooks: dict[str, Any] | None = None) -> dict[str, Any]:
    """The `notebook` task request: the prelude records `target` calls, the hooks run them."""
    request = notebook_request(submission, cell_timeout=cell_timeout, timeout=timeout,
                               capture=(target,), mode="run", budget_s=None, watch=WATCH)
    request["task"] = "cells"   # no kernel to start: the warm task process runs the cells
    prelude = request["notebook"]["cells"][0]
    source = prelude["source"]
    prelude["source"] = ("".join(source) if isinstance(source, list) else source) + \
        hooks_source(hooks)
    return request


# What a notebook with a fine-tuning part must mention: a segmentation model, or its head.
_FINETUNE_CODE = re.compile(r"deeplab|lraspp|fcn_resnet|\bsegmentation\b|classifier\s*(\[\s*4"
                            r"\s*\]|\.4\b)|\.classifier\b", re.IGNORECASE)


def nothing_to_run(submission: Submission, target: str = "train") -> dict[str, Any] | None:
    """Measured for a submission with no fine-tuning code at all, found without running it.

    Running the notebook costs a kernel and every cell (about a minute and a half for a 2020
    notebook); when no function `target` is defined, or no cell so much as mentions a
    segmentation model or its `classifier` head, there is nothing that run could find.
    """
    where = _defines(submission, target)
    code = "\n".join(c.source for c in submission.cells if c.kind == "code")
    if where is not None and _FINETUNE_CODE.search(code):
        return None
    if where is None:
        message = (f"no function named {target} was found; the fine-tuning part defines "
                   f"{target}(args, model) and calls it with the DeepLabV3 model")
    else:
        message = (f"{target} is defined in cell {where}, but no cell loads a DeepLabV3 model "
                   f"or replaces its classifier head: the fine-tuning part is missing")
    return {"found": False, "finetune": None,
            "problem": _problem("missing", message, cell=where)}


def finetune_measured(submission: Submission, sandbox: Sandbox, *, target: str = "train",
                      timeout: float | None = None,
                      hooks: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run the submission's notebook for its fine-tuning call; the Measured dict for `target`.

    `timeout` bounds the notebook's cells together; the sandbox gets `SANDBOX_MARGIN_S` more
    for the kernel's start. Without one, the notebook gets the sandbox's own time less that
    margin, so a slow notebook still returns what it recorded instead of being killed.
    """
    absent = nothing_to_run(submission, target)
    if absent is not None:
        return absent
    limits = None
    if timeout:
        total = float(timeout)
        if total + SANDBOX_MARGIN_S > sandbox.limits.timeout:
            limits = sandbox.limits.with_overrides(timeout=total + SANDBOX_MARGIN_S)
    else:
        total = max(10.0, sandbox.limits.timeout - SANDBOX_MARGIN_S)
    request = finetune_request(submission, target=target, timeout=total, hooks=hooks)
    outcome = sandbox.run(request, limits=limits)
    return measured_from_outcome(outcome, submission, target)


# --- from the task's result to Measured --------------------------------------------------------
def _problem(kind: str, message: str, cell: int | None = None, line: int | None = None,
             traceback: list[str] | None = None) -> dict[str, Any]:
    return Problem(kind, message, cell=cell, line=line, traceback=list(traceback or [])).to_dict()


def measured_from_outcome(outcome: Outcome, submission: Submission, target: str) -> dict:
    """Measured from the sandbox Outcome (a failed sandbox becomes a located Problem)."""
    if outcome.status != "ok" or outcome.result is None:
        kind, text = OUTCOME_PROBLEMS.get(outcome.status, ("internal", "the grader failed"))
        if outcome.status == "error":
            text = f"the notebook task failed: {outcome.summary()}"
        return {"found": True, "problem": _problem(kind, text), "finetune": None}
    return measured_from_result(outcome.result, submission, target)


def _module_arguments(call: dict[str, Any]) -> list[dict[str, Any]]:
    return [v for v in (call.get("arguments") or {}).values()
            if isinstance(v, dict) and v.get("type") == "module"]


def _defines(submission: Submission, name: str) -> int | None:
    """The cell that defines function `name` (last one wins), if any."""
    found = None
    for cell in submission.cells:
        if cell.kind != "code":
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            if f"def {name}(" in cell.source:
                found = cell.index
            continue
        if any(isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == name
               for n in ast.walk(tree)):
            found = cell.index
    return found


def _calls_target(cell: dict[str, Any], submission: Submission, name: str) -> bool:
    index = cell.get("cell")
    if not isinstance(index, int) or not 1 <= index <= len(submission.cells):
        return False
    return f"{name}(" in submission.cell(index).source


def measured_from_result(result: dict[str, Any], submission: Submission,
                         target: str = "train") -> dict[str, Any]:
    """Pick the fine-tuning call among the recorded ones and summarise it as data."""
    if result.get("kernel_error"):
        return {"found": True, "finetune": None, "problem": _problem(
            "internal", f"no notebook kernel could be started: {result['kernel_error']}")}
    prelude = result.get("prelude") or {}
    if prelude.get("status") != "ok":
        tail = (prelude.get("traceback") or [""])[-1:]
        return {"found": True, "finetune": None, "problem": _problem(
            "internal", f"the grading prelude failed ({prelude.get('status')}): {tail[0]}")}
    cells = result.get("cells") or []
    by_label = {c.get("label"): c for c in cells}
    calls = list(result.get("captured") or [])     # the prelude captures only `target`
    with_model = [c for c in calls if _module_arguments(c)]
    if not with_model:
        return _not_called(submission, target, cells, calls)
    headed = [c for c in with_model
              if any(HEAD in (m.get("modules") or {}) for m in _module_arguments(c))]
    pool = headed or with_model
    ran = [c for c in pool if c.get("ran") in RAN]
    call = (ran or pool)[-1]
    cell = by_label.get(call.get("cell")) or {}
    labels = {c.get("label"): c.get("cell") for c in cells if c.get("label")}
    return {"found": True, "problem": None,
            "finetune": summarise(call, calls=len(with_model), cell=cell, labels=labels)}


def innermost(traceback: list[str], labels: dict[str, int]) -> tuple[int | None, int | None]:
    """The student's innermost (cell, line) in a mapped traceback ('cell 5, line 4: code')."""
    for entry in reversed(traceback or []):
        where, sep, rest = entry.partition(", line ")
        if sep and where in labels:
            number = rest.split(":", 1)[0].strip()
            return labels[where], int(number) if number.isdigit() else None
    return None, None


def _not_called(submission: Submission, target: str, cells: list[dict[str, Any]],
                calls: list[dict[str, Any]]) -> dict[str, Any]:
    """found False, saying whether `target` is missing, never called, or its cell failed."""
    failed = [c for c in cells if c.get("status") in ("error", "timeout", "crashed")
              and _calls_target(c, submission, target)]
    if failed:
        cell = failed[-1]
        what = (f"{cell.get('ename')}: {cell.get('evalue')}" if cell.get("ename")
                else cell.get("status"))
        kind = {"timeout": "timeout", "crashed": "crashed"}.get(cell["status"], "exception")
        message = (f"the cell that calls {target}(args, model) failed before the call: {what}")
        return {"found": False, "finetune": None, "problem": _problem(
            kind, message, cell=cell.get("cell"), traceback=cell.get("traceback"))}
    where = _defines(submission, target)
    if where is None:
        message = (f"no function named {target} was found; the fine-tuning part defines "
                   f"{target}(args, model) and calls it with the DeepLabV3 model")
    elif calls:
        message = (f"{target} is called (cell {where} defines it) but never with a model: "
                   f"call {target}(args, model) with the DeepLabV3 whose head you replaced")
    else:
        message = (f"{target} is defined in cell {where} but never called: call "
                   f"{target}(args, model) with the DeepLabV3 whose head you replaced")
    return {"found": False, "finetune": None,
            "problem": _problem("missing", message, cell=where)}


def _head(module: dict[str, Any], name: str) -> dict[str, Any] | None:
    info = (module.get("modules") or {}).get(name)
    if info is None:
        return None
    keys = ("type", "in_channels", "out_channels", "kernel_size", "stride", "padding", "bias",
            "params", "trainable", "in_features", "out_features")
    return {k: info[k] for k in keys if k in info}


def summarise(call: dict[str, Any], *, calls: int = 1, cell: dict[str, Any] | None = None,
              labels: dict[str, int] | None = None) -> dict[str, Any]:
    """The `finetune` data for one recorded call: trainable, changed, optimised, head."""
    before = _module_arguments(call)[0]
    after = call.get("after") if isinstance(call.get("after"), dict) else None
    state = after or before          # the model as it was trained (a head swapped in train too)
    params = state.get("parameters") or []
    trainable = [p["name"] for p in params if p.get("requires_grad")]
    steps = int(call.get("steps") or 0)
    changed: list[str] | None = None
    unchanged: int | None = None
    if after is not None and steps > 0:
        old = {p["name"]: (p.get("checksum"), p.get("shape")) for p in before["parameters"]}
        new = {p["name"]: (p.get("checksum"), p.get("shape")) for p in after["parameters"]}
        changed = [n for n in new if old.get(n) != new[n]]
        unchanged = len(new) - len(changed)
    optimizers = call.get("optimizers") or []
    optimised: list[str] | None = None
    foreign = 0
    if optimizers:
        seen: dict[str, None] = {}
        for opt in optimizers:
            for group in opt.get("groups", []):
                seen.update(dict.fromkeys(n for n in group.get("names", []) if n))
                foreign += int(group.get("foreign") or 0)
        optimised = list(seen)
    cell = cell or {}
    run_problem = None
    if call.get("ran") == "raised":
        error = call.get("error") or {}
        where, line = innermost(cell.get("traceback") or [], labels or {})
        if where is None:
            where, line = cell.get("cell"), call.get("line")
        kind = "timeout" if error.get("ename") in ("KeyboardInterrupt", "CellTimeout") \
            else "exception"
        run_problem = _problem(
            kind, f"{error.get('ename', 'error')}: {error.get('evalue', '')}".strip(),
            cell=where, line=line, traceback=cell.get("traceback"))
    return {
        "calls": calls,
        "cell": cell.get("cell"), "line": call.get("line"),
        "model_class": before.get("class"),
        "trainable": trainable,
        "changed": changed,
        "unchanged_count": unchanged,
        "optimised": optimised,
        "optimised_foreign": foreign,
        "optimizers": [{"class": o.get("class"), "stepped": bool(o.get("stepped")),
                        "lr": [g.get("lr") for g in o.get("groups", [])],
                        "n_params": sum(len(g.get("names", [])) + int(g.get("foreign") or 0)
                                        for g in o.get("groups", []))} for o in optimizers],
        "head": _head(state, HEAD),
        "head_parameters": [p["name"] for p in params if p["name"].startswith(HEAD + ".")],
        "aux_head": _head(state, "aux_classifier.4"),
        "total": state.get("total"),
        "trainable_count": state.get("trainable"),
        "parameter_tensors": len(params),
        "run": {"status": call.get("ran"), "steps": steps, "run_s": call.get("run_s"),
                "stopped_by": call.get("stopped_by"), "data_roots": call.get("data_roots"),
                "batch": call.get("batch"),
                "problem": run_problem},
    }

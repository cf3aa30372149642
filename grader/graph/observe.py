"""Observe a model class as data: its modules, parameters, weights, and graphs of forward runs.

The same code observes a student's class inside the sandbox (task `observe`) and the reference
class in-process (`grader.graph.measure.measure_class`), so both are described identically.
Student failures (a raising `__init__` or `forward`) become located Problems of that config; the
trusted side never unpickles anything written here (weights are plain `.npz`, outputs `.npy`).
"""

from __future__ import annotations

import re
import traceback
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from grader.graph.capture import CaptureLimit, capture_graph
from grader.graph.inputs import make_input, make_projection
from grader.ingest.problems import Problem, locate, student_traceback
from grader.ingest.slicing import Program

# The seed of every observation (inputs, construction): one home for the trusted side, the
# compiled expectations and the sandbox task.
OBSERVE_SEED = 1234
RUN_SEED_STEP = 1  # run i of a config uses seed + i
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_SIMPLE = (bool, int, float, str)


def artifact_name(kind: str, target: str, config: str, run: int | None = None) -> str:
    """`w_UNet_k3.npz`, `o_UNet_k3_0.npy`: names the trusted side can predict."""
    stem = f"{kind}_{_SAFE.sub('_', target)}_{_SAFE.sub('_', config)}"
    return f"{stem}_{run}.npy" if run is not None else f"{stem}.npz"



# ---- locating failures in the student's cells -----------------------------------------------
def _kind(exc: BaseException) -> str:
    if isinstance(exc, MemoryError) or "can't allocate memory" in str(exc):
        return "memory"
    if isinstance(exc, CaptureLimit):
        return "limit"
    if isinstance(exc, SyntaxError):
        return "syntax"
    return "exception"


def student_problem(exc: BaseException, doing: str, program: Program | None
                    ) -> dict[str, Any]:
    """A Problem for a student exception, located at the innermost frame in their code."""
    text = f"{type(exc).__name__}: {exc}".strip()
    if len(text) > 2000:
        text = text[:2000] + " …"
    message = f"{doing}: {text}" if doing else text
    cell = line = None
    lines: list[str]
    if program is not None:
        frames = [f for f in traceback.extract_tb(exc.__traceback__)
                  if f.filename == program.filename]
        lineno = frames[-1].lineno if frames else None
        if isinstance(exc, SyntaxError) and exc.filename == program.filename:
            lineno = exc.lineno
        cell, line = locate(program, lineno)
        if cell is None and lineno is not None and not program.labels:
            line = lineno  # no line map given: the program's own line is the best location
        lines = student_traceback(program, exc)
    else:
        lines = [ln.rstrip("\n") for ln in traceback.format_exception(exc)][-12:]
    return Problem(_kind(exc), message, cell=cell, line=line, traceback=lines).to_dict()


# ---- describing a model ----------------------------------------------------------------------
def _simple(value: Any) -> Any:
    if isinstance(value, _SIMPLE) or value is None:
        return value
    if isinstance(value, tuple | list) and all(isinstance(v, _SIMPLE) for v in value):
        return list(value)
    return ...


def _module_attrs(module: nn.Module) -> dict[str, Any]:
    """The plain settings a module was built with (channels, kernel, stride, ...)."""
    out: dict[str, Any] = {}
    for key, value in vars(module).items():
        if key.startswith("_") or key == "training":
            continue
        simple = _simple(value)
        if simple is not ...:
            out[key] = simple
    return out


def _unregistered(model: nn.Module) -> list[dict[str, Any]]:
    """Modules held in plain Python containers: invisible to `.parameters()` and the optimizer.

    `self.layers = [nn.Conv2d(...), ...]` builds and runs, but its parameters are not the
    model's, so they are never trained (nn.ModuleList / nn.Sequential register them).
    """
    found: list[dict[str, Any]] = []
    for owner_name, owner in model.named_modules():
        for attr, value in vars(owner).items():
            if attr.startswith("_") or not isinstance(value, list | tuple | dict):
                continue
            items = list(value.values()) if isinstance(value, dict) else list(value)
            loose = [m for m in items if isinstance(m, nn.Module)]
            if not loose:
                continue
            params = sum(p.numel() for m in loose for p in m.parameters())
            found.append({"name": f"{owner_name}.{attr}" if owner_name else attr,
                          "container": type(value).__name__, "modules": len(loose),
                          "types": sorted({type(m).__name__ for m in loose}),
                          "params": int(params)})
    return found


def describe(model: nn.Module) -> dict[str, Any]:
    """Modules, parameters and buffers of a constructed model, as JSON.

    A module object reachable under several names (an attribute that is also a member of an
    `nn.Sequential`) is listed once, under its first name, with the others as `aliases`; each
    module lists the (first) names of the parameters it holds, so the trusted side can tell
    whether the forward pass used it whatever name or call style reached it.
    """
    first_param = {id(p): name for name, p in model.named_parameters()}
    names: dict[int, list[str]] = {}
    for name, m in model.named_modules(remove_duplicate=False):
        if name:
            names.setdefault(id(m), []).append(name)
    modules = []
    for name, m in model.named_modules():
        if not name:
            continue
        entry = {"name": name, "type": type(m).__name__, "attrs": _module_attrs(m),
                 "params": int(sum(p.numel() for p in m.parameters())),
                 "param_names": sorted({first_param[id(p)] for p in m.parameters()
                                        if id(p) in first_param})}
        aliases = [n for n in names.get(id(m), []) if n != name]
        if aliases:
            entry["aliases"] = aliases
        modules.append(entry)
    parameters = [{"name": name, "shape": list(p.shape), "requires_grad": bool(p.requires_grad)}
                  for name, p in model.named_parameters()]
    buffers = [{"name": name, "shape": list(b.shape)} for name, b in model.named_buffers()]
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"modules": modules, "parameters": parameters, "buffers": buffers,
            "param_count": {"total": int(total), "trainable": int(trainable)},
            "unregistered": _unregistered(model)}


def _array(t: torch.Tensor) -> np.ndarray:
    t = t.detach().cpu()
    if t.dtype in (torch.bfloat16, torch.float16):
        t = t.float()
    return t.numpy().copy()


def export_weights(model: nn.Module, path: Path) -> None:
    """Parameters and buffers by qualified name as a plain `.npz` (no pickles)."""
    tensors = dict(model.named_parameters())
    tensors.update(dict(model.named_buffers()))
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, t in tensors.items():
            with zf.open(f"{name}.npy", "w") as fh:
                np.lib.format.write_array(fh, _array(t), allow_pickle=False)


# ---- one config ------------------------------------------------------------------------------
def _first_tensor(out: Any) -> torch.Tensor | None:
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, list | tuple):
        for item in out:
            found = _first_tensor(item)
            if found is not None:
                return found
    if isinstance(out, dict):
        return _first_tensor(list(out.values()))
    return None


def _gradients(model: nn.Module, out: torch.Tensor, x_leaf: torch.Tensor,
               seed: int) -> tuple[list[str], bool, str | None]:
    """(trainable parameters without a gradient, input affects output, note)."""
    note = None
    if out.requires_grad and out.is_floating_point():
        try:
            weights = make_projection(list(out.shape), seed)
            (out.float() * weights).sum().backward()
        except RuntimeError as exc:
            note = f"backward failed: {exc}"[:500]
    else:
        note = "the output does not require grad (computed without autograd)"
    missing = [name for name, p in model.named_parameters() if p.requires_grad and p.grad is None]
    grad = x_leaf.grad
    affects = grad is not None and bool(grad.abs().sum() > 0)
    return missing, affects, note


def _run_one(model: nn.Module, shape: Sequence[int], seed: int, out_dir: Path, output_name: str,
             program: Program | None) -> dict[str, Any]:
    shape = [int(s) for s in shape]
    run: dict[str, Any] = {"input": {"shape": shape, "seed": seed}, "mode": "train",
                           "graph": None, "output_shape": None, "output": None,
                           "without_grad": None, "input_affects_output": None, "problem": None}
    saved = [(t, t.detach().clone()) for t in [*model.parameters(), *model.buffers()]]
    x_leaf = make_input(shape, seed).requires_grad_(True)
    x = x_leaf.clone()  # the model sees a non-leaf, so in-place ops on its input still work
    model.train()
    model.zero_grad(set_to_none=True)
    torch.manual_seed(seed)
    try:
        graph, out = capture_graph(model, x)
    except Exception as exc:
        run["problem"] = student_problem(exc, f"forward on an input of shape {tuple(shape)}",
                                         program)
        return _restore(run, saved)
    run["graph"] = graph
    out_t = _first_tensor(out)
    assert out_t is not None  # capture_graph raises for a forward without a tensor
    run["output_shape"] = list(out_t.shape)
    if out_t.is_floating_point():
        np.save(out_dir / output_name, _array(out_t), allow_pickle=False)
        run["output"] = output_name
    missing, affects, note = _gradients(model, out_t, x_leaf, seed)
    run["without_grad"], run["input_affects_output"] = missing, affects
    if note:
        run["note"] = note
    model.zero_grad(set_to_none=True)
    return _restore(run, saved)


def _restore(run: dict[str, Any], saved: list[tuple[torch.Tensor, torch.Tensor]]
             ) -> dict[str, Any]:
    """Put parameters and buffers back, so each run starts from the exported state."""
    with torch.no_grad():
        for tensor, copy in saved:
            if tensor.shape == copy.shape:
                tensor.copy_(copy)
    return run


def observe_config(cls: type, target: str, name: str, config: Mapping[str, Any], seed: int,
                   out_dir: Path, program: Program | None = None) -> dict[str, Any]:
    """Construct `cls(*args, **kwargs)`, describe and export it, run each input size."""
    args = list(config.get("args") or [])
    kwargs = dict(config.get("kwargs") or {})
    entry: dict[str, Any] = {"name": name, "args": args, "kwargs": kwargs, "status": "ok",
                             "problem": None, "modules": [], "parameters": [], "buffers": [],
                             "weights": None, "runs": []}
    shown = [*map(repr, args), *(f"{k}={v!r}" for k, v in kwargs.items())]
    call = f"{cls.__name__}({', '.join(shown)})"
    torch.manual_seed(seed)
    try:
        model = cls(*args, **kwargs)
        if not isinstance(model, nn.Module):
            raise TypeError(f"{cls.__name__}(...) is a {type(model).__name__}, not an nn.Module")
    except Exception as exc:
        entry.update(status="error", problem=student_problem(exc, f"constructing {call}", program))
        return entry
    try:
        entry.update(describe(model))
    except Exception as exc:  # e.g. a module attribute property that raises
        entry.update(status="error", problem=student_problem(exc, f"inspecting {call}", program))
        return entry
    weights = artifact_name("w", target, name)
    export_weights(model, out_dir / weights)
    entry["weights"] = weights
    for i, shape in enumerate(config.get("inputs") or []):
        output_name = artifact_name("o", target, name, i)
        entry["runs"].append(_run_one(model, shape, seed + RUN_SEED_STEP * i, out_dir,
                                      output_name, program))
    failed = [r for r in entry["runs"] if r["problem"]]
    if entry["runs"] and len(failed) == len(entry["runs"]):
        entry.update(status="error", problem=failed[0]["problem"])
    return entry


def observe_class(cls: type, configs: Mapping[str, Mapping[str, Any]], seed: int,
                  out_dir: Path | str, *, target: str | None = None,
                  program: Program | None = None) -> dict[str, Any]:
    """The observation of one target class at each config (same layout as the task's)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = target or cls.__name__
    return {"found": True, "class": cls.__name__, "problem": None,
            "configs": [observe_config(cls, target, name, cfg, int(seed), out_dir, program)
                        for name, cfg in configs.items()]}



"""Sandbox task `observe`: build the student's models and record what they are, as data.

Request (JSON)::

    {"program": source, "filename": "<submission>", "seed": 1234,
     "line_map": [[cell, line], ...], "labels": {"3": "cell 3"},        # optional: locations
     "targets": {"UNet": {"aliases": ["Unet"], "configs": {"k3": {"args": [3, 32, 24, 1],
                 "kwargs": {}, "inputs": [[2, 1, 32, 32], [2, 1, 64, 64]]}}}}}

Result: `{"targets": {name: {"found", "class", "problem", "configs": [...]}}, "problem"}` in
the layout of docs/architecture.md ("observations"), plus artifacts in `out_dir`: parameters
and buffers as `w_<target>_<cfg>.npz`, outputs as `o_<target>_<cfg>_<run>.npy`. Student
failures (a raising `__init__` or `forward`) become located Problems of that config; the task
itself only fails on grader bugs. The observing itself is `grader.graph.observe`, the same code
the trusted side runs in-process on the reference class.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from torch import nn

from grader.graph.observe import OBSERVE_SEED, observe_class, student_problem
from grader.ingest.problems import PROGRAM_FILENAME, Problem
from grader.ingest.slicing import Program
from grader.sandbox.execute import run_statements


def _program_from(request: Mapping[str, Any]) -> Program:
    source = str(request.get("program") or "")
    filename = str(request.get("filename") or PROGRAM_FILENAME)
    raw_map = request.get("line_map")
    n_lines = len(source.splitlines())
    if isinstance(raw_map, list) and len(raw_map) >= n_lines:
        line_map = [(c, ln) if isinstance(c, int) and isinstance(ln, int) else (None, None)
                    for c, ln in (tuple(item)[:2] if isinstance(item, list | tuple) and
                                  len(item) >= 2 else (None, None) for item in raw_map)]
    else:
        line_map = [(None, None)] * n_lines
    labels = {int(k): str(v) for k, v in (request.get("labels") or {}).items()
              if str(k).lstrip("-").isdigit()}
    return Program(source=source, line_map=line_map, defines={}, labels=labels,
                   filename=filename)


def _is_module_class(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, nn.Module)


def find_class(namespace: Mapping[str, Any], name: str, aliases: Sequence[str] = ()
               ) -> tuple[type | None, str | None]:
    """The target class by its name, an alias, or the same name in another case."""
    for candidate in [name, *aliases]:
        if _is_module_class(namespace.get(candidate)):
            return namespace[candidate], None
    wanted = {n.lower() for n in [name, *aliases]}
    for key, value in namespace.items():
        if key.lower() in wanted and _is_module_class(value):
            return value, None
    if name in namespace:
        return None, f"`{name}` is defined but is not a torch.nn.Module class"
    return None, f"no class `{name}` is defined" + (
        f" (also looked for {', '.join(f'`{a}`' for a in aliases)})" if aliases else "")


def observe_request(program: Program, targets: Mapping[str, Any], seed: int = OBSERVE_SEED
                    ) -> dict[str, Any]:
    """The request for a Program (trusted side): source plus its line map for locations."""
    return {"task": "observe", "program": program.source, "filename": program.filename,
            "seed": int(seed), "line_map": [list(loc) for loc in program.line_map],
            "labels": {str(k): v for k, v in program.labels.items()}, "targets": dict(targets)}


def run(request: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """Execute the program once, then observe every target in the namespace it left."""
    out_dir = Path(out_dir)
    program = _program_from(request)
    seed = int(request.get("seed", OBSERVE_SEED))
    targets = request.get("targets") or {}
    if not isinstance(targets, dict):
        raise TypeError("observe: 'targets' must be an object")
    namespace: dict[str, Any] = {"__name__": "__submission__", "__builtins__": builtins}
    program_problem = None
    try:
        failures = run_statements(program.source, program.filename, namespace)
    except SyntaxError as exc:
        failures = [exc]
    if failures:
        program_problem = student_problem(failures[0], "running the program", program)
    result: dict[str, Any] = {"targets": {}, "problem": program_problem}
    for name, spec in targets.items():
        spec = spec or {}
        cls, why = find_class(namespace, str(name), [str(a) for a in spec.get("aliases") or []])
        if cls is None:
            problem = program_problem or Problem("missing", str(why)).to_dict()
            result["targets"][name] = {"found": False, "class": None, "problem": problem,
                                       "configs": []}
            continue
        result["targets"][name] = observe_class(cls, spec.get("configs") or {}, seed, out_dir,
                                                target=str(name), program=program)
    return result

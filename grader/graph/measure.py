"""Observations from the sandbox -> the measurements the checks judge (CONTRACTS.md A).

Nothing the sandbox *says* is taken as the measurement when it can be recomputed here:
parameter counts come from the exported arrays, and output shapes, gradient flow and input
dependence from replaying each captured graph with those arrays. The sandbox's own figures are
only a cross-check (a disagreement becomes a problem) and a fallback when a graph holds an op
replay does not know (`"replayed": false`).
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from grader.graph.inputs import make_input, make_projection
from grader.graph.observe import OBSERVE_SEED, observe_class
from grader.graph.replay import ReplayError, is_deterministic, replay
from grader.ingest.problems import Problem

RTOL, ATOL = 1e-3, 1e-4  # replayed vs reported outputs (thread counts change float sums)


def load_npz(data: bytes) -> dict[str, np.ndarray]:
    """Arrays of an exported `.npz`, never unpickling anything."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError, KeyError) as exc:
        raise ValueError(f"unreadable weights file: {exc}") from None


def load_npy(data: bytes) -> np.ndarray:
    return np.load(io.BytesIO(data), allow_pickle=False)


def _problem(kind: str, message: str) -> dict[str, Any]:
    return Problem(kind, message).to_dict()


def _message(problem: Mapping[str, Any] | None) -> str:
    return str((problem or {}).get("message") or "failed")


class _Config:
    """Measures one observed config; collects notes on the way."""

    def __init__(self, entry: Mapping[str, Any], artifacts: Mapping[str, bytes]) -> None:
        self.entry = entry
        self.artifacts = artifacts
        self.notes: list[str] = []
        self.disagreements: list[str] = []

    def arrays(self) -> dict[str, np.ndarray]:
        name = self.entry.get("weights")
        if not isinstance(name, str) or name not in self.artifacts:
            raise ValueError(f"the weights file {name!r} did not come back from the sandbox")
        return load_npz(self.artifacts[name])

    def counts(self, arrays: Mapping[str, np.ndarray]) -> tuple[dict[str, Any], dict, set]:
        total = trainable = 0
        shapes: dict[str, list[int]] = {}
        trainable_names: set[str] = set()
        for p in self.entry.get("parameters") or []:
            name = p.get("name")
            if name not in arrays:
                raise ValueError(f"parameter {name!r} is missing from the exported weights")
            arr = arrays[name]
            if list(arr.shape) != list(p.get("shape") or []):
                self.disagreements.append(f"{name}: exported shape {list(arr.shape)}, "
                                          f"reported {p.get('shape')}")
            shapes[name] = list(arr.shape)
            total += int(arr.size)
            if p.get("requires_grad"):
                trainable += int(arr.size)
                trainable_names.add(name)
        reported = self.entry.get("param_count") or {}
        if reported and (reported.get("total"), reported.get("trainable")) != (total, trainable):
            self.disagreements.append(f"parameter count {reported} reported, the arrays hold "
                                      f"{total} ({trainable} trainable)")
        frozen = [p.get("name") for p in self.entry.get("parameters") or []
                  if p.get("name") not in trainable_names]
        return ({"total": total, "trainable": trainable, "frozen": frozen}, shapes,
                trainable_names)

    def replay_run(self, run: Mapping[str, Any], arrays: Mapping[str, np.ndarray],
                   trainable: set[str]) -> dict[str, Any]:
        """Shape, parameters without gradient and input dependence of one run, by replay."""
        spec = run.get("input") or {}
        shape, seed = list(spec.get("shape") or []), int(spec.get("seed") or 0)
        tensors: dict[str, Any] = dict(arrays)
        for name in trainable:
            arr = arrays[name]
            if np.issubdtype(arr.dtype, np.floating):
                tensors[name] = torch.from_numpy(arr.copy()).requires_grad_(True)
        x = make_input(shape, seed).requires_grad_(True)
        out = replay(run["graph"], tensors, x)
        if list(out.shape) != list(run.get("output_shape") or []):
            self.disagreements.append(f"input {shape}: replay gives output {list(out.shape)}, "
                                      f"the sandbox reported {run.get('output_shape')}")
        self._compare_values(run, out, shape)
        if out.requires_grad and out.is_floating_point():
            (out.float() * make_projection(list(out.shape), seed)).sum().backward()
        missing = sorted(n for n in trainable
                         if isinstance(tensors[n], torch.Tensor) and tensors[n].grad is None)
        order = [p["name"] for p in self.entry.get("parameters") or []]
        missing.sort(key=lambda n: order.index(n) if n in order else len(order))
        affects = x.grad is not None and bool(x.grad.abs().sum() > 0)
        reported = run.get("without_grad")
        if isinstance(reported, list) and sorted(reported) != sorted(missing):
            self.disagreements.append(f"input {shape}: replay finds no gradient for {missing}, "
                                      f"the sandbox reported {reported}")
        return {"shape": list(out.shape), "without_grad": missing, "affects": affects}

    def _compare_values(self, run: Mapping[str, Any], out: torch.Tensor, shape: list) -> None:
        name = run.get("output")
        if not isinstance(name, str):
            return
        if not is_deterministic(run["graph"]):
            self.notes.append(f"input {shape}: output values not compared (random ops such as "
                              "dropout were active)")
            return
        if name not in self.artifacts:
            self.disagreements.append(f"input {shape}: the output file did not come back")
            return
        try:
            reported = load_npy(self.artifacts[name])
        except ValueError as exc:
            self.disagreements.append(f"input {shape}: unreadable output file ({exc})")
            return
        mine = out.detach().float().numpy()
        if reported.shape != mine.shape or not np.allclose(mine, reported, rtol=RTOL, atol=ATOL):
            worst = (float(np.max(np.abs(mine - reported))) if reported.shape == mine.shape
                     else "shape differs")
            self.disagreements.append(f"input {shape}: the replayed output differs from the one "
                                      f"the sandbox reported (max difference {worst})")

    def measure(self) -> dict[str, Any]:
        e = self.entry
        result: dict[str, Any] = {
            "status": e.get("status", "error"), "problem": e.get("problem"), "outputs": [],
            "parameters": {"total": 0, "trainable": 0, "without_grad": []},
            "input_affects_output": False, "graph": None, "modules": e.get("modules") or [],
            "unregistered": e.get("unregistered") or [],
            "param_shapes": {}, "replayed": False, "notes": self.notes}
        if result["status"] != "ok" and not e.get("weights"):
            return result
        try:
            arrays = self.arrays()
            counts, shapes, trainable = self.counts(arrays)
        except ValueError as exc:
            result.update(status="error", problem=_problem("corrupt", str(exc)))
            return result
        result["param_shapes"] = shapes
        result["parameters"].update(counts)
        first: dict[str, Any] | None = None
        replayed_all = True
        for run in e.get("runs") or []:
            shape_in = list((run.get("input") or {}).get("shape") or [])
            if run.get("problem") or not run.get("graph"):
                result["outputs"].append({"input": shape_in, "shape": None,
                                          "error": _message(run.get("problem"))})
                continue
            try:
                got = self.replay_run(run, arrays, trainable)
                replayed = True
            except ReplayError as exc:
                replayed = replayed_all = False
                if exc.kind == "inconsistent":
                    self.disagreements.append(f"input {shape_in}: the graph does not replay "
                                              f"({exc})")
                else:
                    self.notes.append(f"input {shape_in}: not replayed ({exc}); using the "
                                      "sandbox's figures")
                got = {"shape": run.get("output_shape"),
                       "without_grad": list(run.get("without_grad") or []),
                       "affects": bool(run.get("input_affects_output"))}
            result["outputs"].append({"input": shape_in, "shape": got["shape"], "error": None})
            if first is None:
                first = {**got, "graph": run["graph"], "replayed": replayed}
        if first is not None:
            result["parameters"]["without_grad"] = first["without_grad"]
            result["input_affects_output"] = first["affects"]
            result["graph"] = first["graph"]
            result["replayed"] = replayed_all
        if self.disagreements:
            text = ("the sandbox's report disagrees with the trusted replay: "
                    + "; ".join(self.disagreements[:5]))
            result["notes"] = [*self.notes, text]
            if result["problem"] is None:
                result["problem"] = _problem("corrupt", text)
        return result


def measure_target(observed: Mapping[str, Any], artifacts: Mapping[str, bytes]
                   ) -> dict[str, Any]:
    """The Measured dict of one target's observation."""
    found = bool(observed.get("found"))
    out: dict[str, Any] = {"found": found, "class": observed.get("class"),
                           "problem": None if found else observed.get("problem") or
                           _problem("missing", "the target class was not found"),
                           "configs": {}}
    configs = observed.get("configs") or []
    if isinstance(configs, Mapping):
        configs = [{"name": k, **v} for k, v in configs.items()]
    for entry in configs:
        out["configs"][str(entry.get("name"))] = _Config(entry, artifacts).measure()
    return out


def measure(observations: Mapping[str, Any], artifacts: Mapping[str, bytes]
            ) -> dict[str, dict[str, Any]]:
    """{target: Measured} for every target of an `observe` result."""
    targets = observations.get("targets") or {}
    return {str(name): measure_target(obs or {}, artifacts) for name, obs in targets.items()}


def read_artifacts(folder: Path | str) -> dict[str, bytes]:
    """Files of an observe out_dir as the artifact mapping an Outcome carries."""
    folder = Path(folder)
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def measure_class(cls: type, configs: Mapping[str, Mapping[str, Any]],
                  seed: int = OBSERVE_SEED, *,
                  target: str | None = None) -> dict[str, Any]:
    """Observe a trusted class in-process (same code path as the sandbox) and measure it."""
    target = target or cls.__name__
    with tempfile.TemporaryDirectory(prefix="grader-observe-") as folder:
        observed = observe_class(cls, configs, seed, folder, target=target)
        artifacts = read_artifacts(folder)
    return measure_target(observed, artifacts)

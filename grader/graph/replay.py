"""Re-execute a captured Graph from data only: the trusted side's own forward pass.

Nothing of the student's runs here: each node is an op from the allowlist in `ops.py`, called
with torch's own functions on the exported arrays. Every node's result must have the shape the
capture recorded, so a graph that does not describe a real forward pass (a capture bug or a
tampered observation) fails loudly instead of producing numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from grader.graph import ops as O

MAX_ELEMENTS = 1 << 27   # no single intermediate may exceed this many elements
_DROPOUTS = {"dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout",
             "feature_alpha_dropout"}
_BINARY = {"add", "sub", "mul", "div", "matmul"}
_CONV_EXTRAS = {"kernel_size", "bias", "padding_spec"}
_PROPERTIES = {"T", "mT", "H", "mH", "real", "imag", "data"}
_NAMESPACES = {"tensor": torch.Tensor, "torch": torch, "functional": F}


class ReplayError(ValueError):
    """The graph cannot be replayed: `kind` is "unknown" (an op replay does not know) or
    "inconsistent" (the data contradicts itself or the exported arrays)."""

    def __init__(self, kind: str, message: str, node: Any = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.node = node


def _as_tensor(value: Any, copy: bool) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            raise ReplayError("inconsistent", "an exported array holds Python objects")
        return torch.from_numpy(np.array(value, copy=True) if copy else value)
    raise ReplayError("inconsistent", f"expected an array, got {type(value).__name__}")


def _dtype(name: Any) -> torch.dtype:
    value = getattr(torch, str(name), None) if isinstance(name, str) else None
    if not isinstance(value, torch.dtype):
        raise ReplayError("inconsistent", f"unknown dtype {name!r}")
    return value


def _numel(shape: Any) -> int:
    if not isinstance(shape, list) or not all(isinstance(s, int) and s >= 0 for s in shape):
        raise ReplayError("inconsistent", f"bad shape {shape!r}")
    return math.prod(shape)


class _Replayer:
    def __init__(self, graph: Mapping[str, Any], tensors: Mapping[str, Any],
                 x: torch.Tensor, random: str) -> None:
        self.graph = graph
        # Buffers are copied: train-mode batch norm updates running stats in place, as it did
        # during capture, and the caller's arrays must not change.
        self.tensors = {str(k): _as_tensor(v, copy=not isinstance(v, torch.Tensor))
                        for k, v in tensors.items()}
        self.x = x
        self.random = random
        self.values: dict[Any, Any] = {}

    # ---- references ---------------------------------------------------------------------------
    def resolve(self, ref: Any, node: Any) -> Any:
        if not isinstance(ref, dict):
            raise ReplayError("inconsistent", f"node {node}: a reference must be an object")
        if "node" in ref:
            if ref["node"] not in self.values:
                raise ReplayError("inconsistent",
                                  f"node {node} uses node {ref['node']!r} before it exists", node)
            value = self.values[ref["node"]]
            if "index" in ref:
                if not isinstance(value, list | tuple) or not isinstance(ref["index"], int) \
                        or not 0 <= ref["index"] < len(value):
                    raise ReplayError("inconsistent", f"node {node}: bad output index", node)
                return value[ref["index"]]
            return value
        if "param" in ref or "buffer" in ref:
            name = ref.get("param", ref.get("buffer"))
            if name not in self.tensors:
                raise ReplayError("inconsistent",
                                  f"node {node} uses {name!r}, which was not exported", node)
            return self.tensors[name]
        if "input" in ref:
            if ref["input"] != 0:
                raise ReplayError("inconsistent", f"node {node}: only input 0 exists", node)
            return self.x
        if "const" in ref:
            return self.decode(ref["const"], node)
        if "untracked" in ref:
            raise ReplayError("unknown", f"node {node} uses a tensor that was neither the input, "
                              "a parameter, a buffer nor a recorded result", node)
        raise ReplayError("inconsistent", f"node {node}: unreadable reference {ref!r}", node)

    def decode(self, value: Any, node: Any) -> Any:
        """Inverse of the capture's argument encoding."""
        if isinstance(value, list):
            return [self.decode(v, node) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1 or "index" in value:
            key = next(iter(value))
            if key in ("node", "param", "buffer", "input", "untracked", "const"):
                return self.resolve(value, node)
            item = value[key]
            if key == "tuple":
                return tuple(self.decode(v, node) for v in item)
            if key == "slice" and isinstance(item, list) and len(item) == 3:
                return slice(*(self.decode(v, node) for v in item))
            if key == "ellipsis":
                return Ellipsis
            if key == "dtype":
                return _dtype(item)
            if key == "device":
                return torch.device("cpu")
            if key == "float" and item in ("inf", "-inf", "nan"):
                return float(item)
        if set(value) == {"tensor", "dtype"}:
            if _numel(list(np.shape(value["tensor"]))) > MAX_ELEMENTS:
                raise ReplayError("inconsistent", f"node {node}: constant too large", node)
            return torch.tensor(value["tensor"], dtype=_dtype(value["dtype"]))
        raise ReplayError("unknown", f"node {node}: cannot rebuild argument {value!r}", node)

    # ---- nodes --------------------------------------------------------------------------------
    def run(self) -> torch.Tensor:
        nodes = self.graph.get("nodes")
        if not isinstance(nodes, list):
            raise ReplayError("inconsistent", "the graph has no node list")
        want = (self.graph.get("input") or {}).get("shape")
        if want is not None and list(self.x.shape) != want:
            raise ReplayError("inconsistent", f"the graph was captured for input {want}, "
                              f"replayed with {list(self.x.shape)}")
        for node in nodes:
            if not isinstance(node, dict) or "id" not in node or node["id"] in self.values:
                raise ReplayError("inconsistent", "nodes need unique ids")
            nid = node["id"]
            shape = node.get("shape")
            if _numel(shape) > MAX_ELEMENTS:
                raise ReplayError("inconsistent", f"node {nid} is implausibly large", nid)
            try:
                out = self.run_node(node)
            except ReplayError:
                raise
            except (RuntimeError, TypeError, ValueError, IndexError, MemoryError) as exc:
                raise ReplayError("inconsistent", f"node {nid} ({node.get('op')}) failed: "
                                  f"{type(exc).__name__}: {exc}", nid) from None
            first = out[0] if isinstance(out, list | tuple) and out else out
            if not isinstance(first, torch.Tensor) or list(first.shape) != shape:
                got = list(first.shape) if isinstance(first, torch.Tensor) else type(first)
                raise ReplayError("inconsistent", f"node {nid} ({node.get('op')}) gives {got} "
                                  f"on replay, the capture recorded {shape}", nid)
            self.values[nid] = out
        out = self.values.get(self.graph.get("output"))
        if not isinstance(out, torch.Tensor):
            raise ReplayError("inconsistent", "the graph's output is not a replayed tensor")
        return out

    def run_node(self, node: dict[str, Any]) -> Any:
        op, nid = node.get("op"), node["id"]
        attrs = node.get("attrs") or {}
        if not isinstance(attrs, dict):
            raise ReplayError("inconsistent", f"node {nid}: attrs must be an object", nid)
        if node.get("known") is False:
            raise ReplayError("unknown", f"node {nid}: op `{op}` is not replayable", nid)
        inputs = [self.resolve(r, nid) for r in node.get("inputs") or []]
        if "call" in attrs:
            return self.run_generic(node, attrs)
        spec = O.SPECS.get(op)  # type: ignore[arg-type]
        if spec is None:
            raise ReplayError("unknown", f"node {nid}: op `{op}` is not replayable", nid)
        if op in _DROPOUTS and self.random == "identity":
            return inputs[0]
        n_single = sum(p.kind == "T" for p in spec.params)
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        taken = 0
        for p in spec.params:
            if p.kind == "T":
                if taken >= len(inputs):
                    raise ReplayError("inconsistent", f"node {nid}: too few inputs", nid)
                value = inputs[taken]
                taken += 1
            elif p.kind == "L":
                count = len(inputs) - n_single
                value = inputs[taken:taken + count]
                taken += count
            else:
                value = self.decode(attrs.get(p.name, p.default), nid)
                if p.name == "padding" and isinstance(attrs.get("padding_spec"), str):
                    value = attrs["padding_spec"]
            # Tensors go by position until the first attribute; from there on, by name.
            if kwargs or p.kind == "A":
                kwargs[p.name] = value
            else:
                args.append(value)
        if taken != len(inputs):
            raise ReplayError("inconsistent", f"node {nid}: {len(inputs)} inputs for `{op}`", nid)
        if op in _BINARY and not isinstance(args[0], torch.Tensor):
            args[0] = torch.as_tensor(args[0])
        if op == "upsample":
            self._check_upsample(args[0], kwargs, nid)
        return spec.fn(*args, **kwargs)

    def _check_upsample(self, x: torch.Tensor, kwargs: dict[str, Any], nid: Any) -> None:
        size, scale = kwargs.get("size"), kwargs.get("scale_factor")
        spatial = list(x.shape[2:])
        if size is not None:
            sizes = size if isinstance(size, list | tuple) else [size] * len(spatial)
        elif scale is not None:
            scales = scale if isinstance(scale, list | tuple) else [scale] * len(spatial)
            sizes = [math.floor(s * float(f)) for s, f in zip(spatial, scales, strict=False)]
        else:
            return
        if math.prod([*x.shape[:2], *(int(s) for s in sizes)]) > MAX_ELEMENTS:
            raise ReplayError("inconsistent", f"node {nid}: upsampling far too large", nid)

    def run_generic(self, node: dict[str, Any], attrs: dict[str, Any]) -> Any:
        nid, call, fn = node["id"], attrs.get("call"), attrs.get("fn")
        args = self.decode(attrs.get("args") or [], nid)
        kwargs = attrs.get("kwargs") or {}
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            raise ReplayError("inconsistent", f"node {nid}: bad generic arguments", nid)
        kwargs = {str(k): self.decode(v, nid) for k, v in kwargs.items()}
        if attrs.get("property"):
            if fn not in _PROPERTIES or not args or not isinstance(args[0], torch.Tensor):
                raise ReplayError("unknown", f"node {nid}: property `{fn}` is not replayable",
                                  nid)
            return args[0].detach() if fn == "data" else getattr(args[0], fn)
        if node.get("random") and self.random == "identity":
            raise ReplayError("unknown", f"node {nid}: `{fn}` draws random numbers", nid)
        call_name = O.GENERIC_CALL_NAMES.get(str(fn), str(fn))
        allowed = O.GENERIC.get(str(call), frozenset())
        reversed_ok = call == "torch" and fn in {"div", "floor_divide", "remainder", "pow",
                                                 "matmul", "sub", "add", "mul"}
        if fn not in allowed and not reversed_ok:
            raise ReplayError("unknown", f"node {nid}: op `{node.get('op')}` is not replayable",
                              nid)
        if fn == "setitem":
            if len(args) != 3 or not isinstance(args[0], torch.Tensor):
                raise ReplayError("inconsistent", f"node {nid}: bad item assignment", nid)
            target = args[0].clone()
            target[args[1]] = args[2]
            return target
        target = getattr(_NAMESPACES[str(call)], call_name, None)
        if target is None:
            raise ReplayError("unknown", f"node {nid}: `{call}.{fn}` does not exist here", nid)
        return target(*args, **kwargs)


def replay(graph: Mapping[str, Any], tensors: Mapping[str, Any], x: Any, *,
           random: str = "identity") -> torch.Tensor:
    """The graph's output for input `x`, computed from `tensors` (parameters and buffers).

    `tensors` maps qualified names to numpy arrays (copied) or torch tensors (used as given,
    so callers can pass leaves that require grad). `random="identity"` replays dropout as the
    identity (its mask cannot be reproduced; the output then differs from the capture's) and
    refuses other random ops; `"sample"` draws fresh randomness instead.
    Raises `ReplayError` for unknown ops or data that contradicts itself.
    """
    if random not in ("identity", "sample"):
        raise ValueError(f"random must be 'identity' or 'sample', not {random!r}")
    x = _as_tensor(x, copy=True)
    return _Replayer(graph, tensors, x, random).run()


def is_deterministic(graph: Mapping[str, Any]) -> bool:
    """False when the capture drew random numbers (active dropout), so values cannot match."""
    return not any(n.get("random") for n in graph.get("nodes") or [] if isinstance(n, dict))

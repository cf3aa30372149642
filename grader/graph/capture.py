"""Record one forward pass of a model as a Graph of canonical nodes (docs/architecture.md).

Runs inside the sandbox (on the student's model) and in-process (on the reference), so both
sides produce graphs the same way. A `TorchFunctionMode` sees every torch call at the highest
level it was made (`F.relu`, not the aten kernel under it); global module hooks say which module
was running. Tensors are followed by identity: the model input, each parameter and buffer (by
qualified name) and every recorded node's output, so in-place ops (`x.relu_()`) re-point the
tensor to their new node. Ops that only read metadata (`x.shape`) or update a buffer's
bookkeeping (`num_batches_tracked += 1`) are not nodes; every other op is, with `"known": false`
when replay would not know how to re-run it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn
from torch.nn.modules import module as module_hooks
from torch.overrides import TorchFunctionMode

from grader.graph import ops as O

MAX_NODES = 20_000          # a forward with more nodes than this is refused (JSON size)
MAX_CONST_ELEMENTS = 4_096  # untracked tensors up to this size are inlined as constants
GRAPH_VERSION = 1

_BINARY_DUNDERS = {"add", "sub", "mul", "truediv", "floordiv", "matmul", "pow", "mod", "and",
                   "or", "xor", "lshift", "rshift", "div"}
_PROPERTIES = {"T", "mT", "H", "mH", "real", "imag", "data"}


class CaptureLimit(RuntimeError):
    """The forward pass recorded more nodes than a graph may hold."""


def _tensors_in(value: Any) -> Iterator[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _tensors_in(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensors_in(item)


def _pair_list(value: Any, n: int) -> Any:
    """`3` -> `[3, 3]`, `(1, 2)` -> `[1, 2]`; anything else unchanged."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return [value] * n
    if isinstance(value, list | tuple) and len(value) == 1 and n > 1:
        return [value[0]] * n
    if isinstance(value, list | tuple):
        return list(value)
    return value


def resolve_name(func: Any) -> tuple[str, str, bool]:
    """(raw name, namespace, is_property) of an intercepted callable.

    The namespace tells replay where to look the name up again: `functional`, `torch`,
    `tensor` (a Tensor method) or `other` (never replayed).
    """
    name = getattr(func, "__name__", None) or type(func).__name__
    if name == "__get__":  # a Tensor property such as `x.T` or `x.data`
        owner = getattr(func, "__self__", None)
        return str(getattr(owner, "__name__", name)), "tensor", True
    if getattr(torch.nn.functional, name, None) is func:
        return name, "functional", False
    if getattr(torch, name, None) is func:
        return name, "torch", False
    qualname = getattr(func, "__qualname__", "") or ""
    if getattr(torch.Tensor, name, None) is func or qualname.startswith(("TensorBase.",
                                                                         "Tensor.")):
        return name, "tensor", False
    return name, "other", False


def canonical_name(raw: str) -> tuple[str, bool, bool]:
    """(canonical op, in place, operands reversed) for a raw function name."""
    name, inplace, reverse = raw, False, False
    if name.startswith("__") and name.endswith("__") and len(name) > 4:
        core = name[2:-2]
        if core[:1] == "i" and core[1:] in _BINARY_DUNDERS:
            inplace, core = True, core[1:]
        elif core[:1] == "r" and core[1:] in _BINARY_DUNDERS:
            reverse, core = True, core[1:]
        name = core
    elif name.endswith("_") and not name.startswith("_"):
        inplace, name = True, name[:-1]
    return O.ALIASES.get(name, name), inplace, reverse


class _Recorder(TorchFunctionMode):
    """The function mode that turns each intercepted call into a node."""

    def __init__(self, model: nn.Module, x: torch.Tensor) -> None:
        super().__init__()
        self.nodes: list[dict[str, Any]] = []
        self.refs: dict[int, dict[str, Any]] = {}
        self.live: set[Any] = set()     # node ids whose value depends on the model input
        self.keep: list[Any] = []       # recorded outputs stay alive so ids are never reused
        self.notes: dict[str, int] = {}
        self.stack: list[nn.Module] = []
        self.root = model
        self.module_names = {id(m): name for name, m in model.named_modules() if name}
        # The module that holds each parameter: an op on `conv1.weight` belongs to `conv1`
        # even when no module hook saw it (`self.conv1.forward(x)`, `F.conv2d(x, self.w)`).
        self.owner: dict[int, nn.Module] = {}
        for _, m in model.named_modules():
            for p in m.parameters(recurse=False):
                self.owner.setdefault(id(p), m)
        self._inside: dict[int, set[int]] = {}
        self.buffers: set[int] = set()
        for name, p in model.named_parameters():
            self.refs[id(p)] = {"param": name}
        for name, b in model.named_buffers():
            self.refs[id(b)] = {"buffer": name}
            self.buffers.add(id(b))
        self.refs[id(x)] = {"input": 0}
        self.keep.append(x)

    # ---- module attribution -----------------------------------------------------------------
    def push(self, module: nn.Module, *_: Any) -> None:
        self.stack.append(module)

    def pop(self, module: nn.Module, *_: Any) -> None:
        while self.stack:
            if self.stack.pop() is module:
                break

    def _module(self, tensors: list[Any] = ()) -> tuple[str | None, str | None]:
        """(qualified name, type) of the module computing an op on `tensors`.

        The innermost running module, unless the op reads a parameter of a module nested
        inside it (or no module runs): then that parameter's own module, since the student
        called it without `__call__` (`self.conv1.forward(x)`) or used its weights directly.
        """
        inner = self.stack[-1] if self.stack and self.stack[-1] is not self.root else None
        for t in tensors:
            owner = self.owner.get(id(t))
            if owner is None or owner is inner or owner is self.root:
                continue
            if inner is None or id(owner) in self._descendants(inner):
                inner = owner
            break
        if inner is None:
            return None, None
        return self.module_names.get(id(inner)), type(inner).__name__

    def _descendants(self, module: nn.Module) -> set[int]:
        key = id(module)
        if key not in self._inside:
            self._inside[key] = {id(m) for m in module.modules()}
        return self._inside[key]

    # ---- encoding -----------------------------------------------------------------------------
    def ref(self, t: torch.Tensor) -> dict[str, Any]:
        known = self.refs.get(id(t))
        if known is not None:
            return dict(known)
        if t.numel() <= MAX_CONST_ELEMENTS:
            return {"const": {"tensor": t.detach().cpu().tolist(),
                              "dtype": str(t.dtype).removeprefix("torch.")}}
        return {"untracked": list(t.shape)}

    def enc(self, v: Any, tuples: bool = True) -> Any:
        """JSON for an argument; tensors become refs; tuples stay tagged where it matters."""
        if isinstance(v, torch.Tensor):
            return self.ref(v)
        if v is None or isinstance(v, bool | int | str):
            return v
        if isinstance(v, float):
            return v if math.isfinite(v) else {"float": repr(v)}
        if isinstance(v, tuple | torch.Size) and tuples:
            return {"tuple": [self.enc(i, tuples) for i in v]}
        if isinstance(v, list | tuple):
            return [self.enc(i, tuples) for i in v]
        if isinstance(v, slice):
            return {"slice": [self.enc(v.start), self.enc(v.stop), self.enc(v.step)]}
        if v is Ellipsis:
            return {"ellipsis": True}
        if isinstance(v, torch.dtype):
            return {"dtype": str(v).removeprefix("torch.")}
        if isinstance(v, torch.device):
            return {"device": str(v)}
        if hasattr(v, "item") and hasattr(v, "dtype"):  # a numpy scalar
            return self.enc(v.item(), tuples)
        return {"repr": repr(v)[:200]}

    def _is_live(self, ref: dict[str, Any]) -> bool:
        return "input" in ref or ("node" in ref and ref["node"] in self.live)

    # ---- recording ----------------------------------------------------------------------------
    def __torch_function__(self, func: Any, types: Any, args: tuple = (),
                           kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        try:
            self.record(func, args, kwargs, out)
        except CaptureLimit:
            raise
        except Exception as exc:  # a recorder gap must never fail the student's forward
            self.record_failure(func, out, exc)
        return out

    def record_failure(self, func: Any, out: Any, exc: Exception) -> None:
        """Keep the op as an unknown node (so replay refuses) rather than lose it."""
        outputs = list(_tensors_in(out)) if isinstance(out, torch.Tensor | tuple | list) else []
        if not outputs:
            return
        nid = len(self.nodes)
        module, module_type = self._module()
        self.nodes.append({"id": nid, "op": canonical_name(resolve_name(func)[0])[0],
                           "inputs": [], "attrs": {}, "known": False, "module": module,
                           "module_type": module_type, "shape": list(outputs[0].shape),
                           "error": f"{type(exc).__name__}: {exc}"[:300]})
        for i, t in enumerate(outputs):
            self.refs[id(t)] = {"node": nid} if len(outputs) == 1 else {"node": nid, "index": i}
        self.keep.extend(outputs)

    def note(self, text: str) -> None:
        self.notes[text] = self.notes.get(text, 0) + 1

    def record(self, func: Any, args: tuple, kwargs: dict, out: Any) -> None:
        raw, namespace, is_property = resolve_name(func)
        op, inplace, reverse = canonical_name(raw)
        outputs = list(_tensors_in(out)) if isinstance(out, torch.Tensor | tuple | list) else []
        in_tensors = list(_tensors_in((args, kwargs)))
        if op == "setitem" and in_tensors:
            outputs, inplace = [in_tensors[0]], True
        if not outputs:
            if op not in O.METADATA and not op.startswith("_") and any(
                    self._is_live(self.ref(t)) for t in in_tensors if id(t) in self.refs):
                self.note(f"`{op}` read tensor values as Python data; replay cannot follow it")
            return
        if op in O.IDENTITY and in_tensors and len(outputs) == 1:
            src = in_tensors[0]
            if outputs[0].shape == src.shape and outputs[0].dtype == src.dtype:
                self.refs[id(outputs[0])] = self.ref(src)
                self.keep.append(outputs[0])
                return
        if (inplace or raw.endswith("_")) and in_tensors and id(in_tensors[0]) in self.buffers \
                and not any(self._is_live(self.ref(t)) for t in in_tensors):
            return  # bookkeeping on a buffer, e.g. BatchNorm's num_batches_tracked += 1
        if len(self.nodes) >= MAX_NODES:
            raise CaptureLimit(f"the forward pass ran more than {MAX_NODES} tensor operations")
        node = self._node(func, raw, namespace, is_property, op, reverse, args, kwargs)
        if inplace:
            node["inplace"] = True
        node["module"], node["module_type"] = self._module(in_tensors)
        node["shape"] = list(outputs[0].shape)
        if len(outputs) > 1:
            node["shapes"] = [list(t.shape) for t in outputs]
        if outputs[0].dtype != torch.float32:
            node["dtype"] = str(outputs[0].dtype).removeprefix("torch.")
        nid = len(self.nodes)
        node["id"] = nid
        self.nodes.append(node)
        if any(self._is_live(r) for r in node["inputs"]):
            self.live.add(nid)
        if isinstance(out, torch.Tensor) or op == "setitem":
            self.refs[id(outputs[0])] = {"node": nid}
        else:
            for i, t in enumerate(outputs):
                self.refs[id(t)] = {"node": nid, "index": i}
        self.keep.extend(outputs)

    def _node(self, func: Any, raw: str, namespace: str, is_property: bool, op: str,
              reverse: bool, args: tuple, kwargs: dict) -> dict[str, Any]:
        spec = O.SPECS.get(op)
        if reverse and len(args) >= 2:
            args = (args[1], args[0], *args[2:])
        if spec is not None:
            bound = self._bind(spec, func, args, kwargs)
            if bound is not None:
                return bound
        name = raw if is_property else op
        call = "torch" if reverse else namespace
        known = op in O.GENERIC.get(call, ()) or (is_property and raw in _PROPERTIES)
        if reverse and op in _BINARY_DUNDERS:
            name = {"truediv": "div", "floordiv": "floor_divide", "mod": "remainder"}.get(op, op)
            known = known or name in {"div", "floor_divide", "remainder", "pow", "matmul", "sub",
                                      "add", "mul"}
        inputs = [self.ref(t) for t in _tensors_in((args, kwargs))]
        attrs = {"call": call, "fn": name, "args": self.enc(list(args)),
                 "kwargs": {k: self.enc(v) for k, v in kwargs.items()}}
        if is_property:
            attrs["property"] = True
        node = {"op": op, "inputs": inputs, "attrs": attrs, "known": bool(known)}
        if op in O.RANDOM or raw in O.RANDOM:
            node["random"] = True
        if any("untracked" in r for r in inputs):
            node["known"] = False
        return node

    def _bind(self, spec: O.Spec, func: Any, args: tuple, kwargs: dict) -> dict | None:
        """Match a call to the spec's parameters by position and name; None if it does not fit."""
        order = O.SOURCE_ORDER.get(func) or (spec.names + spec.drop)
        if len(args) > len(order):
            return None
        values = {p.name: p.default for p in spec.params}
        for name, value in zip(order, args, strict=False):
            values[name] = value
        for key, value in kwargs.items():
            key = O.KWARG_ALIASES.get(key, key)
            if key not in values and key not in spec.drop and key not in O.ALWAYS_DROP:
                return None
            values[key] = value
        values.update(O.IMPLIED.get(func, {}))
        inplace = bool(values.get("inplace"))
        inputs: list[dict[str, Any]] = []
        attrs: dict[str, Any] = {}
        for p in spec.params:
            value = values.get(p.name)
            if p.kind == "T":
                inputs.append(self.ref(value) if isinstance(value, torch.Tensor)
                              else {"const": self.enc(value)})
            elif p.kind == "L":
                if not isinstance(value, list | tuple):
                    return None
                inputs.extend(self.ref(t) if isinstance(t, torch.Tensor)
                              else {"const": self.enc(t)} for t in value)
            else:
                attrs[p.name] = self.enc(value, tuples=False)
        self._refine(spec.op, attrs, values)
        node: dict[str, Any] = {"op": spec.op, "inputs": inputs, "attrs": attrs, "known": True}
        if inplace:
            node["inplace"] = True
        if spec.op in O.RANDOM and attrs.get("training") and (attrs.get("p") or 0) > 0:
            node["random"] = True
        if any("untracked" in r for r in inputs):
            node["known"] = False
        return node

    @staticmethod
    def _refine(op: str, attrs: dict[str, Any], values: dict[str, Any]) -> None:
        """Make attributes comparable: pairs as lists, 'same' padding as numbers."""
        if op.startswith("conv"):
            weight = values.get("weight")
            dims = weight.dim() - 2 if isinstance(weight, torch.Tensor) else 2
            for key in ("stride", "dilation", "output_padding"):
                if key in attrs:
                    attrs[key] = _pair_list(attrs[key], dims)
            if isinstance(weight, torch.Tensor):
                attrs["kernel_size"] = list(weight.shape[2:])
            attrs["bias"] = isinstance(values.get("bias"), torch.Tensor)
            padding = attrs.get("padding")
            if isinstance(padding, str):
                attrs["padding_spec"] = padding
                kernel = attrs.get("kernel_size") or [1] * dims
                dilation = attrs.get("dilation") or [1] * dims
                attrs["padding"] = ([0] * dims if padding == "valid" else
                                    [d * (k - 1) // 2 for k, d in zip(kernel, dilation,
                                                                      strict=False)])
            else:
                attrs["padding"] = _pair_list(padding, dims)
        elif op.startswith(("max_pool", "avg_pool")):
            if attrs.get("stride") in (None, []):
                attrs["stride"] = attrs.get("kernel_size")
        elif op == "upsample" and isinstance(attrs.get("scale_factor"), int):
            attrs["scale_factor"] = float(attrs["scale_factor"])

    # ---- result -------------------------------------------------------------------------------
    def output_ref(self, out: Any) -> Any:
        tensors = list(_tensors_in(out))
        if not tensors:
            return None
        refs = []
        for t in tensors:
            ref = self.refs.get(id(t))
            if ref is None or set(ref) != {"node"}:
                node = {"id": len(self.nodes), "op": "identity" if ref else "untracked",
                        "inputs": [ref] if ref else [], "attrs": {}, "known": ref is not None,
                        "module": None, "module_type": None, "shape": list(t.shape)}
                self.nodes.append(node)
                ref = {"node": node["id"]}
            refs.append(ref["node"])
        return refs


def capture_graph(model: nn.Module, x: torch.Tensor) -> tuple[dict[str, Any], torch.Tensor]:
    """Run `model(x)` once and return (Graph JSON, the model's output tensor).

    The model keeps whatever mode (train/eval) the caller set. A model returning a tuple or
    dict gives its first tensor as the output (the graph lists every returned tensor under
    `outputs`). Exceptions from the model propagate unchanged.
    """
    recorder = _Recorder(model, x)
    pre = module_hooks.register_module_forward_pre_hook(recorder.push)
    post = module_hooks.register_module_forward_hook(recorder.pop, always_call=True)
    try:
        with recorder:
            out = model(x)
    finally:
        pre.remove()
        post.remove()
    outputs = recorder.output_ref(out)
    first = next(_tensors_in(out), None)
    if first is None:
        if out is None:
            raise TypeError("the model's forward returned None, not a tensor: is forward "
                            "still empty, or is its `return` missing?")
        raise TypeError(f"the model's forward returned {type(out).__name__}, not a tensor")
    graph: dict[str, Any] = {"version": GRAPH_VERSION, "nodes": recorder.nodes,
                             "output": outputs[0] if outputs else None,
                             "input": {"shape": list(x.shape)}}
    if outputs and len(outputs) > 1:
        graph["outputs"] = outputs
    unknown = sorted({n["op"] for n in recorder.nodes if not n.get("known", True)})
    if unknown:
        graph["unknown_ops"] = unknown
    if recorder.notes:
        graph["notes"] = [f"{text} ({count}x)" if count > 1 else text
                          for text, count in recorder.notes.items()]
    return graph, first


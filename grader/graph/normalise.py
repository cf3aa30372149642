"""Turn a captured Graph into a comparable sequence of layers, grouped into blocks.

Two models that a TA would call "the same architecture" must normalise to the same sequence even
when they are written differently: `nn.ReLU()` vs `F.relu` vs `x.relu_()`, `nn.Sequential` vs
attributes, `padding='same'` vs an int, a `.contiguous()` or a shape-preserving `.view()` in
between, dropout that does nothing in eval mode. What is kept is what changes the function the
network computes: channel counts, kernel, stride, padding, dilation, output padding, bias,
normalised features, pooling and upsampling settings, and where each tensor comes from, so that
skip connections can be compared.

A block starts at each convolution; a concatenation or addition right before a convolution is
that block's input and belongs to it (as the handout tables draw it).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# Canonical op aliases: in-place, functional and aten spellings of the same operation.
OP_ALIASES = {
    "conv": "conv2d", "convolution": "conv2d", "conv_transpose": "conv_transpose2d",
    "batch_norm2d": "batch_norm", "batchnorm": "batch_norm", "batch_norm_2d": "batch_norm",
    "max_pool2d_with_indices": "max_pool2d", "maxpool2d": "max_pool2d",
    "avgpool2d": "avg_pool2d",
    "interpolate": "upsample", "upsample_nearest2d": "upsample", "upsample_bilinear2d": "upsample",
    "upsample_bicubic2d": "upsample", "upsampling_nearest2d": "upsample",
    "concat": "cat", "concatenate": "cat", "iadd": "add",
    "threshold": "relu",
}
# Mode implied by an aten-style upsample name when the attrs do not say.
UPSAMPLE_MODE = {"upsample_nearest2d": "nearest", "upsampling_nearest2d": "nearest",
                 "upsample_bilinear2d": "bilinear", "upsample_bicubic2d": "bicubic"}

# Ops that never change values.
IDENTITY_OPS = {"identity", "contiguous", "clone", "alias", "to", "type", "float", "detach",
                "requires_grad_", "cpu", "cuda", "noop"}
# Ops that only rearrange memory: identity when the shape does not change.
VIEW_OPS = {"view", "reshape", "flatten", "squeeze", "unsqueeze", "permute", "transpose",
            "expand", "expand_as", "view_as", "reshape_as", "getitem", "narrow"}
DROPOUT_OPS = {"dropout", "dropout2d", "dropout1d", "dropout3d", "feature_dropout",
               "alpha_dropout", "feature_alpha_dropout"}
CONV_OPS = {"conv2d", "conv_transpose2d", "conv1d", "conv3d", "conv_transpose1d",
            "conv_transpose3d"}
MERGE_OPS = {"cat", "add", "stack", "mul", "sub"}

# Display names, after the torch.nn module a student would write.
DISPLAY = {
    "conv2d": "Conv2d", "conv_transpose2d": "ConvTranspose2d", "conv1d": "Conv1d",
    "conv3d": "Conv3d", "batch_norm": "BatchNorm2d", "instance_norm": "InstanceNorm2d",
    "group_norm": "GroupNorm", "layer_norm": "LayerNorm", "relu": "ReLU",
    "leaky_relu": "LeakyReLU", "elu": "ELU", "gelu": "GELU", "silu": "SiLU", "relu6": "ReLU6",
    "prelu": "PReLU", "sigmoid": "Sigmoid", "tanh": "Tanh", "hardtanh": "Hardtanh",
    "max_pool2d": "MaxPool2d", "avg_pool2d": "AvgPool2d",
    "adaptive_avg_pool2d": "AdaptiveAvgPool2d", "adaptive_max_pool2d": "AdaptiveMaxPool2d",
    "upsample": "Upsample", "softmax": "Softmax", "log_softmax": "LogSoftmax",
    "dropout": "Dropout", "dropout2d": "Dropout2d", "linear": "Linear",
}
ACTIVATIONS = {"relu", "leaky_relu", "elu", "gelu", "silu", "relu6", "prelu", "sigmoid", "tanh",
               "hardtanh"}
NORMS = {"batch_norm", "instance_norm", "group_norm", "layer_norm"}
RESAMPLE = {"max_pool2d", "avg_pool2d", "upsample", "adaptive_avg_pool2d", "adaptive_max_pool2d"}

# Attributes compared per op, in display order; anything else the capture records is ignored.
KEPT = {
    "conv2d": ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation",
               "groups", "bias"),
    "conv_transpose2d": ("in_channels", "out_channels", "kernel_size", "stride", "padding",
                         "output_padding", "dilation", "groups", "bias"),
    "batch_norm": ("num_features", "affine"),
    "max_pool2d": ("kernel_size", "stride", "padding", "dilation", "ceil_mode"),
    "avg_pool2d": ("kernel_size", "stride", "padding", "ceil_mode"),
    "upsample": ("scale_factor", "mode", "align_corners"),
    "softmax": ("dim",), "log_softmax": ("dim",), "cat": ("dim",),
    "leaky_relu": ("negative_slope",), "dropout": ("p",), "dropout2d": ("p",),
    "linear": ("in_features", "out_features", "bias"),
}
# Values shown only when they differ from PyTorch's default, as `repr(nn.Conv2d(...))` does.
DEFAULTS = {"stride": 1, "padding": 0, "output_padding": 0, "dilation": 1, "groups": 1,
            "bias": True, "affine": True, "ceil_mode": False, "align_corners": None,
            "negative_slope": 0.01}

INPUT = "x"  # the source name of the model's input


class GraphError(ValueError):
    """The graph is not in the documented format (a grader bug, never the student's)."""


@dataclass(frozen=True)
class Source:
    """Where a layer's input tensor comes from: the model input or an earlier layer."""

    layer: int | None  # index into Sequence.layers; None for the model input
    const: Any = None  # set for a constant operand (e.g. `x + 1`)
    is_const: bool = False


@dataclass
class Layer:
    """One meaningful operation of the forward pass, with the attributes that define it."""

    index: int
    op: str
    attrs: dict[str, Any]
    sources: list[Source]
    block: int = 0
    node: Any = None
    module: str | None = None
    module_type: str | None = None
    shape: list[int] | None = None
    after: int = 0  # for a dead layer: how many live layers ran before it

    @property
    def name(self) -> str:
        return DISPLAY.get(self.op, self.op)

    def signature(self) -> tuple:
        """Op and compared attributes: equal signatures mean the same layer (sources aside)."""
        return (self.op, tuple(sorted((k, _freeze(v)) for k, v in self.attrs.items())))

    def describe(self, seq: Sequence | None = None) -> str:
        """A PyTorch-like repr: `Conv2d(1, 32, kernel_size=3, padding=1)`."""
        a = self.attrs
        if self.op in {"cat", "add", "stack", "mul", "sub"}:
            names = [seq.source_name(s) if seq else "?" for s in self.sources]
            extra = [f"dim={a['dim']}"] if "dim" in a else []
            return f"{self.op}({', '.join(names + extra)})"
        parts: list[str] = []
        if self.op in ("conv2d", "conv_transpose2d"):
            parts = [str(a.get("in_channels", "?")), str(a.get("out_channels", "?")),
                     f"kernel_size={_show(a.get('kernel_size') or '?')}"]
            keys = KEPT[self.op][3:]
        elif self.op == "batch_norm":
            parts, keys = [str(a.get("num_features", "?"))], ("affine",)
        elif self.op == "linear":
            parts = [str(a.get("in_features", "?")), str(a.get("out_features", "?"))]
            keys = ("bias",)
        elif self.op in ("max_pool2d", "avg_pool2d"):
            parts = [f"kernel_size={_show(a.get('kernel_size', '?'))}"]
            keys = KEPT[self.op][1:]
            if a.get("stride") == a.get("kernel_size"):
                keys = tuple(k for k in keys if k != "stride")
        elif self.op == "upsample":
            parts = [f"scale_factor={_show(a.get('scale_factor', '?'))}",
                     f"mode={a.get('mode', 'nearest')!r}"]
            keys = ("align_corners",)
        else:
            keys = tuple(sorted(a))
        for key in keys:
            if key in a and a[key] != DEFAULTS.get(key, object()):
                value = a[key]
                parts.append(f"{key}={value!r}" if isinstance(value, str) else
                             f"{key}={_show(value)}")
        return f"{self.name}({', '.join(parts)})"


@dataclass
class Repeat:
    """Layers computed a second time from the same inputs (a block applied twice)."""

    block: int                 # the block of the first computation
    layers: list[int]          # indices (into Sequence.layers) of the layers computed again
    modules: list[str]         # top-level modules that ran again, e.g. ["down1"]


@dataclass
class Sequence:
    """A model's forward pass as an ordered list of layers, plus what was computed but unused
    and what was computed twice."""

    layers: list[Layer]
    dead: list[Layer] = field(default_factory=list)
    input_shape: list[int] | None = None
    repeated: list[Repeat] = field(default_factory=list)

    def blocks(self) -> dict[int, list[Layer]]:
        """Layers grouped by block number, for reporting."""
        out: dict[int, list[Layer]] = {}
        for layer in self.layers:
            out.setdefault(layer.block, []).append(layer)
        return out

    def is_block_output(self, layer: Layer) -> bool:
        later = self.layers[layer.index + 1:]
        return not later or later[0].block != layer.block

    def source_name(self, source: Source) -> str:
        """Short name of a tensor: `x` (the input), `out3` (block 3's output) or
        `block3.BatchNorm2d` (a tensor inside block 3)."""
        if source.is_const:
            return repr(source.const)
        if source.layer is None:
            return INPUT
        layer = self.layers[source.layer]
        if self.is_block_output(layer):
            return f"out{layer.block}"
        return f"block{layer.block}.{layer.name}"

    def to_dict(self) -> list[dict]:
        return [{"block": x.block, "layer": x.describe(self), "module": x.module}
                for x in self.layers]


# --------------------------------------------------------------------------------------- helpers
def _freeze(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    return value


def _show(value: Any) -> str:
    if isinstance(value, tuple | list):
        return "(" + ", ".join(_show(v) for v in value) + ")"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _pair(value: Any, default: Any = None) -> Any:
    """`[3, 3]` -> 3, `(2,)` -> 2; non-square values stay tuples so they still compare."""
    if value is None:
        return default
    if isinstance(value, list | tuple):
        if not value:
            return default
        items = tuple(int(v) if isinstance(v, float) and v.is_integer() else v for v in value)
        return items[0] if len(set(items)) == 1 else items
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def canonical_op(op: str) -> str:
    """The canonical op name: lower case, in-place underscore and namespaces removed."""
    name = str(op).lower().split(".")[-1].split("::")[-1]
    if name.endswith("_") and not name.endswith("__"):
        name = name[:-1]
    if name.startswith("__") and name.endswith("__"):
        name = name.strip("_")
        name = {"iadd": "add", "radd": "add", "imul": "mul", "rmul": "mul"}.get(name, name)
    return OP_ALIASES.get(name, name)


def _refs(node: Mapping) -> list[dict]:
    """The node's input refs, with list arguments (torch.cat's tensors) flattened in order."""
    refs = node.get("inputs") or []
    if not isinstance(refs, list):
        raise GraphError(f"node {node.get('id')!r}: 'inputs' must be a list")
    out: list[dict] = []
    stack = list(reversed(refs))
    while stack:
        ref = stack.pop()
        if isinstance(ref, list):
            stack.extend(reversed(ref))
        elif isinstance(ref, dict) and isinstance(ref.get("list"), list):
            stack.extend(reversed(ref["list"]))
        elif isinstance(ref, dict):
            out.append(ref)
    return out


def _tensor_refs(node: Mapping) -> list[dict]:
    """The refs that carry activations (other nodes or the model input)."""
    return [r for r in _refs(node) if "node" in r or "input" in r]


def _output_ids(graph: Mapping) -> list[Any]:
    out = graph.get("output")
    items = out if isinstance(out, list) else [out]
    ids = []
    for item in items:
        if isinstance(item, dict):
            if "node" in item:
                ids.append(item["node"])
        elif item is not None:
            ids.append(item)
    return ids


def _live(nodes: dict[Any, dict], outputs: Iterable[Any]) -> set[Any]:
    """Nodes the output depends on: everything else is dead code."""
    seen: set[Any] = set()
    stack = [o for o in outputs if o in nodes]
    while stack:
        nid = stack.pop()
        if nid in seen:
            continue
        seen.add(nid)
        stack.extend(r["node"] for r in _refs(nodes[nid]) if "node" in r and r["node"] in nodes)
    return seen


def _ref_shape(ref: dict, nodes: dict[Any, dict], graph: Mapping) -> list[int] | None:
    if "input" in ref:
        shape = (graph.get("input") or {}).get("shape")
        if isinstance(shape, list) and shape and isinstance(shape[0], list):
            return shape[ref.get("input", 0) or 0]
        return shape
    node = nodes.get(ref.get("node"))
    return node.get("shape") if node else None


def _param_shape(ref: dict | None, graph: Mapping,
                 param_shapes: Mapping[str, Any] | None) -> list[int] | None:
    """A parameter's shape from the caller's table, the graph's own table, or the ref itself."""
    if not ref:
        return None
    if isinstance(ref.get("shape"), list):
        return ref["shape"]
    name = ref.get("param") or ref.get("buffer")
    for table in (param_shapes, graph.get("params"), graph.get("parameters"),
                  graph.get("tensors")):
        if not table:
            continue
        if isinstance(table, list):
            table = {t.get("name"): t for t in table if isinstance(t, dict)}
        entry = table.get(name)
        if isinstance(entry, dict):
            entry = entry.get("shape")
        if isinstance(entry, list):
            return entry
    return None


def _channels(shape: list[int] | None) -> int | None:
    return shape[1] if isinstance(shape, list) and len(shape) >= 2 else None


# --------------------------------------------------------------------------------- attributes
def _conv_attrs(op: str, node: dict, nodes: dict, graph: Mapping,
                param_shapes: Mapping[str, Any] | None) -> dict[str, Any]:
    a = node.get("attrs") or {}
    refs = _refs(node)
    weight_ref = next((r for r in refs[1:2] if "param" in r or "buffer" in r or "node" in r),
                      None)
    if weight_ref is None:
        weight_ref = next((r for r in refs if "param" in r), None)
    weight = a.get("weight_shape") or _param_shape(weight_ref, graph, param_shapes)
    if weight is None and weight_ref is not None and "node" in weight_ref:
        weight = _ref_shape(weight_ref, nodes, graph)
    groups = int(_pair(a.get("groups"), 1))
    data = _tensor_refs(node)
    in_ch = _channels(_ref_shape(data[0], nodes, graph)) if data else None
    out_ch = _channels(node.get("shape"))
    if weight and len(weight) >= 3:
        if op.startswith("conv_transpose"):
            in_ch = in_ch if in_ch is not None else weight[0]
            out_ch = out_ch if out_ch is not None else weight[1] * groups
        else:
            out_ch = out_ch if out_ch is not None else weight[0]
            in_ch = in_ch if in_ch is not None else weight[1] * groups
    kernel = _pair(a.get("kernel_size")) or (_pair(list(weight[2:])) if weight else None) or \
        _pair(a.get("module_kernel_size"))
    dilation = _pair(a.get("dilation"), 1)
    padding = a.get("padding", 0)
    if isinstance(padding, str):  # 'same' / 'valid' left as strings by an older capture
        if padding == "valid":
            padding = 0
        elif isinstance(kernel, int) and isinstance(dilation, int):
            padding = dilation * (kernel - 1) // 2
    bias = a.get("bias")
    if bias is None or not isinstance(bias, bool):
        bias_ref = refs[2] if len(refs) > 2 else None
        bias = bool(bias_ref) and not ("const" in bias_ref and bias_ref["const"] is None)
    out = {"in_channels": in_ch, "out_channels": out_ch, "kernel_size": kernel,
           "stride": _pair(a.get("stride"), 1), "padding": _pair(padding, 0),
           "dilation": dilation, "groups": groups, "bias": bias}
    if op.startswith("conv_transpose"):
        out["output_padding"] = _pair(a.get("output_padding"), 0)
    return out


def _pool_attrs(op: str, node: dict) -> dict[str, Any]:
    a = node.get("attrs") or {}
    kernel = _pair(a.get("kernel_size"))
    out = {"kernel_size": kernel, "stride": _pair(a.get("stride"), kernel) or kernel,
           "padding": _pair(a.get("padding"), 0), "ceil_mode": bool(a.get("ceil_mode", False))}
    if op == "max_pool2d":
        out["dilation"] = _pair(a.get("dilation"), 1)
    return out


def _upsample_attrs(raw_op: str, node: dict, nodes: dict, graph: Mapping) -> dict[str, Any]:
    a = node.get("attrs") or {}
    mode = a.get("mode") or UPSAMPLE_MODE.get(raw_op, "nearest")
    factor: Any = None
    data = _tensor_refs(node)
    shape_in = _ref_shape(data[0], nodes, graph) if data else None
    shape_out = node.get("shape")
    if shape_in and shape_out and len(shape_in) == len(shape_out) >= 3:
        ratios = [o / i for i, o in zip(shape_in[2:], shape_out[2:], strict=True) if i]
        factor = _pair(ratios)
    if factor is None:
        factor = _pair(a.get("scale_factor"))
    out: dict[str, Any] = {"scale_factor": factor, "mode": str(mode)}
    if mode not in ("nearest", "nearest-exact", "area"):
        out["align_corners"] = a.get("align_corners")
        if out["align_corners"] is None:
            out["align_corners"] = False  # PyTorch's behaviour when unset
    return out


def _dim(value: Any, rank: int | None, default: int = 1) -> int:
    dim = int(value) if value is not None else default
    return dim + rank if dim < 0 and rank else dim


def _attrs(op: str, raw_op: str, node: dict, nodes: dict, graph: Mapping,
           param_shapes: Mapping[str, Any] | None) -> dict[str, Any]:
    a = node.get("attrs") or {}
    shape = node.get("shape")
    rank = len(shape) if isinstance(shape, list) else None
    if op in ("conv2d", "conv_transpose2d"):
        return _conv_attrs(op, node, nodes, graph, param_shapes)
    if op == "batch_norm":
        features = _channels(shape)
        if features is None:
            w = next((r for r in _refs(node) if "param" in r), None)
            ws = _param_shape(w, graph, param_shapes)
            features = ws[0] if ws else None
        refs = _refs(node)
        if len(refs) >= 5:   # input, running_mean, running_var, weight, bias (F.batch_norm)
            affine = any(not ("const" in r and r["const"] is None) for r in refs[3:5])
        else:
            affine = any("param" in r for r in refs)
        return {"num_features": features, "affine": affine}
    if op in ("max_pool2d", "avg_pool2d"):
        return _pool_attrs(op, node)
    if op == "upsample":
        return _upsample_attrs(raw_op, node, nodes, graph)
    if op in ("softmax", "log_softmax"):
        return {"dim": _dim(a.get("dim"), rank)}
    if op == "cat":
        return {"dim": _dim(a.get("dim", a.get("axis", 0)), rank, default=0)}
    if op == "leaky_relu":
        return {"negative_slope": float(a.get("negative_slope", 0.01))}
    if op in DROPOUT_OPS:
        return {"p": float(a.get("p", 0.5))}
    if op == "linear":
        data = _tensor_refs(node)
        shape_in = _ref_shape(data[0], nodes, graph) if data else None
        refs = _refs(node)
        return {"in_features": shape_in[-1] if shape_in else None,
                "out_features": shape[-1] if shape else None,
                "bias": len(refs) > 2 and not ("const" in refs[2] and refs[2]["const"] is None)}
    if op in ACTIVATIONS or op in MERGE_OPS:
        return {}
    # Unknown op: keep its simple attributes so that a difference still shows up.
    return {k: _freeze(v) for k, v in a.items()
            if k not in ("inplace", "training") and isinstance(v, int | float | str | bool | list)}


def _is_noop(op: str, node: dict, nodes: dict, graph: Mapping) -> bool:
    a = node.get("attrs") or {}
    if op in IDENTITY_OPS:
        return True
    data = _tensor_refs(node)
    if op in VIEW_OPS:
        return bool(data) and _ref_shape(data[0], nodes, graph) == node.get("shape")
    if op in DROPOUT_OPS:
        return not a.get("training", True) or float(a.get("p", 0.5)) == 0.0
    if op in ("add", "sub", "mul", "div") and len(data) == 1:
        consts = [r.get("const") for r in _refs(node) if "const" in r]
        neutral = 1 if op in ("mul", "div") else 0
        return bool(consts) and all(c == neutral for c in consts)
    return False


# ------------------------------------------------------------------------------ recomputation
def _renamed(value: Any, alias: Mapping[Any, Any]) -> Any:
    """A node's inputs (nested lists and refs) with node ids replaced through `alias`."""
    if isinstance(value, list):
        return [_renamed(v, alias) for v in value]
    if isinstance(value, dict):
        if "node" in value and value["node"] in alias:
            return {**value, "node": alias[value["node"]]}
        if isinstance(value.get("list"), list):
            return {**value, "list": _renamed(value["list"], alias)}
    return value


def _merge_recomputed(raw_nodes: list[dict]) -> tuple[list[dict], dict[Any, Any]]:
    """The nodes with exact recomputations folded into their first computation.

    Two deterministic nodes with the same op, the same attributes and the same inputs (after
    folding) compute the same tensor: `self.down1(x)` called twice on `x`. The later one is
    dropped and everything that read it reads the first one, so the model is compared as the
    function it computes; the caller reports the recomputation. Random ops (dropout in train
    mode) and ops replay does not know are never folded.
    """
    alias: dict[Any, Any] = {}
    first: dict[str, Any] = {}
    out: list[dict] = []
    for node in raw_nodes:
        inputs = _renamed(node.get("inputs") or [], alias)
        node = {**node, "inputs": inputs} if inputs != (node.get("inputs") or []) else node
        if not node.get("random") and node.get("known", True) and inputs:
            key = json.dumps([canonical_op(node["op"]), inputs, node.get("attrs") or {}],
                             sort_keys=True, default=repr)
            if key in first:
                alias[node["id"]] = first[key]
                continue
            first[key] = node["id"]
        out.append(node)
    return out, alias


def _repeats(raw_nodes: list[dict], alias: Mapping[Any, Any], value_of: Mapping[Any, Source],
             layers: list[Layer]) -> list[Repeat]:
    """The folded recomputations that were layers, grouped by the block they repeat."""
    by_block: dict[int, Repeat] = {}
    for node in raw_nodes:
        original = alias.get(node["id"])
        src = value_of.get(original) if original is not None else None
        if src is None or src.layer is None:
            continue
        layer = layers[src.layer]
        if layer.node != original:   # a no-op folded onto an earlier layer's value
            continue
        repeat = by_block.setdefault(layer.block, Repeat(layer.block, [], []))
        repeat.layers.append(layer.index)
        top = (node.get("module") or layer.module or "").split(".")[0]
        if top and top not in repeat.modules:
            repeat.modules.append(top)
    return [by_block[b] for b in sorted(by_block)]


# ------------------------------------------------------------------------------------- entry
def normalise(graph: Mapping, param_shapes: Mapping[str, Any] | None = None,
              modules: Iterable[Mapping] | None = None) -> Sequence:
    """The graph's live layers in execution order, with no-ops removed and blocks assigned.

    `param_shapes` (name -> shape) and `modules` (an observation's module list, whose attrs may
    hold `kernel_size`) fill in kernel sizes when the graph itself does not carry them.
    """
    module_attrs = {m.get("name"): m.get("attrs") or {} for m in modules or ()
                    if isinstance(m, Mapping)}
    captured = graph.get("nodes")
    if not isinstance(captured, list):
        raise GraphError("a graph needs a list of 'nodes'")
    for node in captured:
        if not isinstance(node, dict) or "id" not in node or "op" not in node:
            raise GraphError(f"malformed node {node!r:.80}")
    raw_nodes, alias = _merge_recomputed(captured)
    nodes: dict[Any, dict] = {node["id"]: node for node in raw_nodes}
    live = _live(nodes, [alias.get(o, o) for o in _output_ids(graph)])

    # What each node's value is, in terms of layers: a Source (identity ops forward theirs).
    value_of: dict[Any, Source] = {}
    layers: list[Layer] = []
    dead: list[Layer] = []

    def source(ref: dict) -> Source:
        if "input" in ref:
            return Source(None)
        return value_of.get(ref["node"], Source(None))

    for node in raw_nodes:
        raw_op = str(node["op"]).lower().split(".")[-1]
        op = canonical_op(node["op"])
        if op == "conv2d" and (node.get("attrs") or {}).get("transposed"):
            op = "conv_transpose2d"  # aten's generic convolution with transposed=True
        extra = module_attrs.get(node.get("module")) or {}
        if op in CONV_OPS and "kernel_size" in extra and "kernel_size" not in (
                node.get("attrs") or {}):
            node = {**node, "attrs": {**(node.get("attrs") or {}),
                                      "module_kernel_size": extra["kernel_size"]}}
        data = _tensor_refs(node)
        if _is_noop(op, node, nodes, graph):
            value_of[node["id"]] = source(data[0]) if data else Source(None)
            continue
        sources = [source(r) for r in data]
        if op in MERGE_OPS:
            sources = []
            for r in _refs(node):
                if "node" in r or "input" in r:
                    sources.append(source(r))
                elif "const" in r:
                    sources.append(Source(None, const=r["const"], is_const=True))
        layer = Layer(index=-1, op=op, attrs=_attrs(op, raw_op, node, nodes, graph, param_shapes),
                      sources=sources, node=node["id"], module=node.get("module"),
                      module_type=node.get("module_type"), shape=node.get("shape"))
        if node["id"] in live:
            layer.index = len(layers)
            layers.append(layer)
            value_of[node["id"]] = Source(layer.index)
        else:
            layer.after = len(layers)
            dead.append(layer)
    _assign_blocks(layers)
    for layer in dead:  # reported in the block that was running when it ran
        layer.block = layers[layer.after - 1].block if layer.after else 1
    shape = (graph.get("input") or {}).get("shape")
    return Sequence(layers=layers, dead=dead, input_shape=shape,
                    repeated=_repeats(captured, alias, value_of, layers))


def _assign_blocks(layers: list[Layer]) -> None:
    """A convolution starts a block; merges (cat/add) just before it are the block's input."""
    block = 0
    for i, layer in enumerate(layers):
        if layer.op in CONV_OPS:
            block += 1
            j = i - 1
            while j >= 0 and layers[j].op in MERGE_OPS and layers[j].block == block - 1 and \
                    block > 1:
                layers[j].block = block
                j -= 1
        layer.block = max(block, 1)

"""Graphs in the documented capture format (docs/architecture.md), built by hand for the tests.

`GraphBuilder` records ops the way the capture does: one canonical node per tensor op, refs to
nodes / parameters / the input, module attribution, output shapes. The model functions build the
handout models at any config, with keyword switches that plant the mistakes students make, so a
test names the mistake and the expected message rather than a pile of nodes.

Parameter shapes are not part of a Graph; `param_shapes` and `modules` carry them the way an
observation's `parameters` and `modules` lists do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class T:
    """A tensor during building: its ref and shape."""

    ref: dict
    shape: tuple[int, ...]


def _out(size: int, k: int, s: int, p: int, d: int = 1) -> int:
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


class GraphBuilder:
    def __init__(self, shape: tuple[int, ...] = (2, 1, 32, 32), *, id_prefix: str = "") -> None:
        self.nodes: list[dict] = []
        self.input_shape = list(shape)
        self.x = T({"input": 0}, tuple(shape))
        self.param_shapes: dict[str, list[int]] = {}
        self.modules: list[dict] = []
        self._prefix = id_prefix

    def node(self, op: str, inputs: list[dict], shape: tuple[int, ...] | list[int],
             attrs: dict | None = None, module: str | None = None,
             module_type: str | None = None) -> T:
        nid = f"{self._prefix}{len(self.nodes)}" if self._prefix else len(self.nodes)
        self.nodes.append({"id": nid, "op": op, "inputs": [dict(r) for r in inputs],
                           "attrs": attrs or {},
                           "module": module, "module_type": module_type, "shape": list(shape)})
        return T({"node": nid}, tuple(shape))

    def _param(self, name: str, shape: list[int]) -> dict:
        self.param_shapes[name] = shape
        return {"param": name}

    def _module(self, name: str | None, type_: str | None, attrs: dict, params: int) -> None:
        if name and not any(m["name"] == name for m in self.modules):
            self.modules.append({"name": name, "type": type_, "attrs": attrs, "params": params})

    # -- layers
    def conv2d(self, t: T, out: int, k: int = 3, *, stride: int = 1, padding: Any = None,
               dilation: int = 1, bias: bool = True, module: str | None = "conv",
               module_type: str | None = "Conv2d", padding_attr: Any = None) -> T:
        padding = k // 2 if padding is None else padding
        b, c, h, w = t.shape
        name = module or f"_f{len(self.nodes)}"
        inputs = [t.ref, self._param(f"{name}.weight", [out, c, k, k])]
        inputs.append(self._param(f"{name}.bias", [out]) if bias else {"const": None})
        self._module(module, module_type, {"kernel_size": [k, k], "in_channels": c,
                                           "out_channels": out}, out * c * k * k + bias * out)
        shape = (b, out, _out(h, k, stride, padding, dilation), _out(w, k, stride, padding,
                                                                    dilation))
        attrs = {"stride": [stride, stride],
                 "padding": padding_attr if padding_attr is not None else [padding, padding],
                 "dilation": [dilation, dilation], "groups": 1}
        return self.node("conv2d", inputs, shape, attrs, module, module_type)

    def conv_transpose2d(self, t: T, out: int, k: int = 3, *, stride: int = 2, padding: int = 1,
                         output_padding: int = 1, dilation: int = 1, bias: bool = True,
                         module: str | None = "convt",
                         module_type: str | None = "ConvTranspose2d") -> T:
        b, c, h, w = t.shape
        inputs = [t.ref, self._param(f"{module}.weight", [c, out, k, k])]
        inputs.append(self._param(f"{module}.bias", [out]) if bias else {"const": None})
        self._module(module, module_type, {"kernel_size": [k, k]}, out * c * k * k + bias * out)
        size = (h - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1
        attrs = {"stride": [stride, stride], "padding": [padding, padding],
                 "output_padding": [output_padding, output_padding],
                 "dilation": [dilation, dilation], "groups": 1}
        return self.node("conv_transpose2d", inputs, (b, out, size, size), attrs, module,
                         module_type)

    def batch_norm(self, t: T, *, module: str | None = "bn", training: bool = True) -> T:
        c = t.shape[1]
        inputs = [t.ref, {"buffer": f"{module}.running_mean"}, {"buffer": f"{module}.running_var"},
                  self._param(f"{module}.weight", [c]), self._param(f"{module}.bias", [c])]
        self._module(module, "BatchNorm2d", {"num_features": c}, 2 * c)
        return self.node("batch_norm", inputs, t.shape,
                         {"training": training, "momentum": 0.1, "eps": 1e-5}, module,
                         "BatchNorm2d" if module else None)

    def act(self, t: T, op: str = "relu", *, module: str | None = None,
            module_type: str | None = None, **attrs: Any) -> T:
        return self.node(op, [t.ref], t.shape, attrs, module, module_type)

    def pool(self, t: T, k: int = 2, *, op: str = "max_pool2d", stride: Any = None,
             module: str | None = None) -> T:
        b, c, h, w = t.shape
        s = stride or k
        attrs = {"kernel_size": k, "stride": stride if stride is not None else [],
                 "padding": 0, "dilation": 1, "ceil_mode": False}
        if op == "avg_pool2d":
            attrs.pop("dilation")
        return self.node(op, [t.ref], (b, c, _out(h, k, s, 0), _out(w, k, s, 0)), attrs, module,
                         {"max_pool2d": "MaxPool2d", "avg_pool2d": "AvgPool2d"}[op]
                         if module else None)

    def upsample(self, t: T, factor: int = 2, *, mode: str = "nearest", size: int | None = None,
                 align_corners: bool | None = None, module: str | None = None) -> T:
        b, c, h, w = t.shape
        out = size or h * factor
        attrs = {"size": size, "scale_factor": None if size else float(factor), "mode": mode,
                 "align_corners": align_corners}
        return self.node("upsample", [t.ref], (b, c, out, out), attrs, module,
                         "Upsample" if module else None)

    def cat(self, ts: list[T], dim: int = 1) -> T:
        shape = list(ts[0].shape)
        axis = dim % len(shape)
        shape[axis] = sum(t.shape[axis] for t in ts)
        return self.node("cat", [t.ref for t in ts], shape, {"dim": dim})

    def add(self, a: T, b: T) -> T:
        return self.node("add", [a.ref, b.ref], a.shape)

    def graph(self, out: T) -> dict:
        return {"nodes": self.nodes, "output": out.ref["node"],
                "input": {"shape": self.input_shape}}


# --------------------------------------------------------------------------------- the models
@dataclass
class Built:
    """A graph plus the parameter shapes and module list an observation would carry."""

    graph: dict
    param_shapes: dict[str, list[int]]
    modules: list[dict]


def _block(g: GraphBuilder, t: T, kind: str, out: int, k: int, name: str, *,
           order: str = "handout", bn: bool = True, relu: str = "module", pool: str = "max",
           up_mode: str = "nearest", padding: int | None = None, stride: int | None = None,
           conv_type: str = "Conv2d", output_padding: int = 1, extras: tuple = ()) -> T:
    """One handout block: conv [pool|upsample] BN ReLU, with the planted variations.

    kind: "pool" | "up" | "plain" (Conv2d blocks) or "down" | "convt" (strided blocks).
    order: "handout", "relu_before_bn" or "resample_last" (conv → BN → ReLU → pool).
    relu: "module" (nn.ReLU in the Sequential), "functional" (F.relu) or "inplace" (x.relu_()).
    """
    conv_name = f"{name}.0"
    if kind == "convt":
        t = g.conv_transpose2d(t, out, k, stride=stride or 2, padding=1 if padding is None
                               else padding, output_padding=output_padding, module=conv_name)
    else:
        default_pad = 1 if kind == "down" else k // 2
        t = g.conv2d(t, out, k, stride=stride or (2 if kind == "down" else 1),
                     padding=default_pad if padding is None else padding, module=conv_name,
                     module_type=conv_type)

    def resample(t: T) -> T:
        if kind == "pool":
            return g.pool(t, 2, op="avg_pool2d" if pool == "avg" else "max_pool2d",
                          module=f"{name}.1")
        if kind == "up":
            return g.upsample(t, 2, mode=up_mode, module=f"{name}.1",
                              align_corners=False if up_mode == "bilinear" else None)
        return t

    def norm(t: T) -> T:
        return g.batch_norm(t, module=f"{name}.2") if bn else t

    def activation(t: T) -> T:
        if relu == "functional":
            return g.act(t, "relu")
        if relu == "inplace":
            return g.act(t, "relu_")
        return g.act(t, "relu", module=f"{name}.3", module_type="ReLU", inplace=False)

    steps = {"handout": (resample, norm, activation),
             "relu_before_bn": (resample, activation, norm),
             "resample_last": (norm, activation, resample)}[order]
    for step in steps:
        t = step(t)
    for extra in extras:
        t = extra(g, t)
    return t


def _opts(per_block: dict[int, dict], i: int, common: dict) -> dict:
    return {**common, **per_block.get(i, {})}


def pool_upsample_net(k: int = 3, nf: int = 32, nc: int = 24, nic: int = 1, *,
                      blocks: dict[int, dict] | None = None, softmax: bool = False,
                      final: str = "used", size: int = 32, **common: Any) -> Built:
    """PoolUpsampleNet (2021-2025). final: "used", "unused" (computed, result dropped) or
    "absent" (never called)."""
    blocks = blocks or {}
    g = GraphBuilder((2, nic, size, size))
    t = g.x
    plan = [("pool", nf), ("pool", 2 * nf), ("up", nf), ("up", nc)]
    for i, (kind, out) in enumerate(plan, start=1):
        t = _block(g, t, kind, out, k, f"conv{i}", **_opts(blocks, i, common))
    last = t
    if final != "absent":
        fin = g.conv2d(t, nc, k, padding=blocks.get(5, {}).get("padding"), module="conv5.0")
        if final == "used":
            last = fin
    if softmax:
        last = g.act(last, "softmax", dim=1)
    return Built(g.graph(last), g.param_shapes, g.modules)


def cnn2020(k: int = 3, nf: int = 32, nc: int = 24, nic: int = 1, *,
            blocks: dict[int, dict] | None = None, conv_type: str = "MyConv2d",
            **common: Any) -> Built:
    """The 2020 CNN built from MyConv2d (F.conv2d issued inside MyConv2d.forward)."""
    blocks = blocks or {}
    g = GraphBuilder((2, nic, 32, 32))
    t = g.x
    names = ["downconv1", "downconv2", "rfconv", "upconv1", "upconv2"]
    plan = [("pool", nf), ("pool", 2 * nf), ("plain", 2 * nf), ("up", nf), ("up", nc)]
    for i, ((kind, out), name) in enumerate(zip(plan, names, strict=True), start=1):
        t = _block(g, t, kind, out, k, name, **_opts(blocks, i, {"conv_type": conv_type,
                                                                  **common}))
    t = g.conv2d(t, nc, k, module="finalconv", module_type=conv_type)
    return Built(g.graph(t), g.param_shapes, g.modules)


def unet2020(k: int = 3, nf: int = 32, nc: int = 24, nic: int = 1, *, conv_type: str = "MyConv2d",
             decoder_first: bool = True) -> Built:
    """The 2020 UNet: skips 3+2 -> 4, 4+1 -> 5, 5+x -> final."""
    g = GraphBuilder((2, nic, 32, 32))

    def cat(a: T, b: T) -> T:
        return g.cat([a, b] if decoder_first else [b, a])

    out1 = _block(g, g.x, "pool", nf, k, "downconv1", conv_type=conv_type)
    out2 = _block(g, out1, "pool", 2 * nf, k, "downconv2", conv_type=conv_type)
    out3 = _block(g, out2, "plain", 2 * nf, k, "rfconv", conv_type=conv_type)
    out4 = _block(g, cat(out3, out2), "up", nf, k, "upconv1", conv_type=conv_type)
    out5 = _block(g, cat(out4, out1), "up", nc, k, "upconv2", conv_type=conv_type)
    final = g.conv2d(cat(out5, g.x), nc, k, module="finalconv", module_type=conv_type)
    return Built(g.graph(final), g.param_shapes, g.modules)


def conv_transpose_net(k: int = 3, nf: int = 32, nc: int = 24, nic: int = 1, *,
                       blocks: dict[int, dict] | None = None, **common: Any) -> Built:
    blocks = blocks or {}
    g = GraphBuilder((2, nic, 32, 32))
    t = g.x
    plan = [("down", nf, "conv1"), ("down", 2 * nf, "conv2"), ("convt", nf, "upconv1"),
            ("convt", nc, "upconv2")]
    for i, (kind, out, name) in enumerate(plan, start=1):
        t = _block(g, t, kind, out, k, name, **_opts(blocks, i, common))
    t = g.conv2d(t, nc, k, module="finalconv.0")
    return Built(g.graph(t), g.param_shapes, g.modules)


def unet(k: int = 3, nf: int = 32, nc: int = 24, nic: int = 1, *, skip1: str = "cat",
         skip_first: tuple[bool, bool] = (True, True), skip1_from: str = "out1",
         skip2: str = "cat", **common: Any) -> Built:
    """The 2021-2023 UNet: cat(x1, x3) -> upconv2, cat(x, x4) -> final conv.

    skip1: "cat", "add" (x1 + x3), or "none" (upconv2 sees x3 only). skip1_from: "out1" (block 1
    output), "bn1" (block 1's BatchNorm output, before the ReLU) or "out2"-like wrong tensors.
    skip_first: per concatenation, whether the skip tensor comes first (the reference's order).
    """
    g = GraphBuilder((2, nic, 32, 32))
    c1 = g.conv2d(g.x, nf, k, stride=2, padding=1, module="conv1.0")
    bn1 = g.batch_norm(c1, module="conv1.1")
    x1 = g.act(bn1, "relu", module="conv1.2", module_type="ReLU")
    x2 = _block(g, x1, "down", 2 * nf, k, "conv2", **common)
    x3 = _block(g, x2, "convt", nf, k, "upconv1", **common)
    skip = {"out1": x1, "bn1": bn1}[skip1_from]
    if skip1 == "cat":
        t = g.cat([skip, x3] if skip_first[0] else [x3, skip])
        in4 = t
    elif skip1 == "add":
        in4 = g.add(skip, x3)
    else:
        in4 = x3
    x4 = _block(g, in4, "convt", nc, k, "upconv2", **common)
    if skip2 == "cat":
        t = g.cat([g.x, x4] if skip_first[1] else [x4, g.x])
    else:
        t = x4
    out = g.conv2d(t, nc, k, module="finalconv.0")
    return Built(g.graph(out), g.param_shapes, g.modules)


def with_extra(op: str, **attrs: Any):
    """An `extras` entry for `_block`: one more op at the end of a block (e.g. dropout)."""

    def add(g: GraphBuilder, t: T) -> T:
        return g.act(t, op, module=f"extra{len(g.nodes)}", module_type=op.title(), **attrs)

    return add


def measured(built: Built, config: str = "handout", *, status: str = "ok",
             problem: dict | None = None, with_shapes: bool = True) -> dict:
    """A Measured record (CONTRACTS.md section A) for one config holding this graph."""
    cfg: dict[str, Any] = {
        "status": status, "problem": problem, "outputs": [],
        "parameters": {"total": 0, "trainable": 0, "without_grad": []},
        "input_affects_output": True, "graph": built.graph if status == "ok" else None,
        "modules": built.modules, "replayed": True}
    if with_shapes:
        cfg["param_shapes"] = built.param_shapes
    return {"found": True, "problem": None, "configs": {config: cfg}}


def with_noop(op: str, **attrs: Any):
    """An `extras` entry: an op that changes nothing (contiguous, a same-shape view, ...)."""

    def add(g: GraphBuilder, t: T) -> T:
        return g.node(op, [t.ref], t.shape, attrs)

    return add


def rename_modules(graph: dict, mapping: Any) -> dict:
    """The same graph with other module names (attributes instead of Sequential indices...)."""
    import copy

    out = copy.deepcopy(graph)
    for node in out["nodes"]:
        if node.get("module"):
            node["module"] = mapping(node["module"])
        for ref in node["inputs"]:
            if "param" in ref:
                owner, leaf = ref["param"].rsplit(".", 1)
                ref["param"] = f"{mapping(owner)}.{leaf}"
    return out

"""The canonical operator table shared by capture (sandbox side) and replay (trusted side).

One table, two readers: capture binds a call's arguments to a `Spec`'s parameter names so that
`nn.ReLU()`, `F.relu`, `torch.relu` and `x.relu_()` all become node `relu`; replay calls the
spec's functional with the recorded tensors and attributes. Ops without a spec but on the
`GENERIC` allowlist are recorded with their raw arguments and replayed by name; anything else is
recorded as unknown and refused by replay. Nothing here runs student code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Param:
    """One parameter of a canonical op: `kind` is "T" (tensor slot), "L" (list of tensors) or
    "A" (attribute)."""

    name: str
    kind: str = "A"
    default: Any = None


@dataclass(frozen=True)
class Spec:
    """A canonical op: its replay function and parameter list in that function's order."""

    op: str
    fn: Any
    params: tuple[Param, ...]
    drop: tuple[str, ...] = ()  # accepted (in this positional order, after params), not kept

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)


def _t(name: str) -> Param:
    return Param(name, "T")


def _a(name: str, default: Any = None) -> Param:
    return Param(name, "A", default)


_INPLACE = ("inplace",)

_CONV = (_t("input"), _t("weight"), _t("bias"), _a("stride", 1), _a("padding", 0),
         _a("dilation", 1), _a("groups", 1))
_CONVT = (_t("input"), _t("weight"), _t("bias"), _a("stride", 1), _a("padding", 0),
          _a("output_padding", 0), _a("groups", 1), _a("dilation", 1))
_MAXPOOL = (_t("input"), _a("kernel_size"), _a("stride"), _a("padding", 0), _a("dilation", 1),
            _a("ceil_mode", False), _a("return_indices", False))
_AVGPOOL = (_t("input"), _a("kernel_size"), _a("stride"), _a("padding", 0),
            _a("ceil_mode", False), _a("count_include_pad", True), _a("divisor_override"))
_DROPOUT = (_t("input"), _a("p", 0.5), _a("training", True))
_BINARY = (_t("input"), _t("other"))


def _spec(op: str, fn: Any, *params: Param, drop: tuple[str, ...] = ()) -> Spec:
    return Spec(op, fn, tuple(params), drop)


def _identity(input: torch.Tensor) -> torch.Tensor:  # noqa: A002 - torch's own name
    return input


SPECS: dict[str, Spec] = {s.op: s for s in [
    _spec("conv1d", F.conv1d, *_CONV),
    _spec("conv2d", F.conv2d, *_CONV),
    _spec("conv3d", F.conv3d, *_CONV),
    _spec("conv_transpose1d", F.conv_transpose1d, *_CONVT),
    _spec("conv_transpose2d", F.conv_transpose2d, *_CONVT),
    _spec("conv_transpose3d", F.conv_transpose3d, *_CONVT),
    _spec("linear", F.linear, _t("input"), _t("weight"), _t("bias")),
    _spec("batch_norm", F.batch_norm, _t("input"), _t("running_mean"), _t("running_var"),
          _t("weight"), _t("bias"), _a("training", False), _a("momentum", 0.1), _a("eps", 1e-5)),
    _spec("instance_norm", F.instance_norm, _t("input"), _t("running_mean"), _t("running_var"),
          _t("weight"), _t("bias"), _a("use_input_stats", True), _a("momentum", 0.1),
          _a("eps", 1e-5)),
    _spec("layer_norm", F.layer_norm, _t("input"), _a("normalized_shape"), _t("weight"),
          _t("bias"), _a("eps", 1e-5)),
    _spec("group_norm", F.group_norm, _t("input"), _a("num_groups"), _t("weight"), _t("bias"),
          _a("eps", 1e-5)),
    _spec("max_pool1d", F.max_pool1d, *_MAXPOOL),
    _spec("max_pool2d", F.max_pool2d, *_MAXPOOL),
    _spec("max_pool3d", F.max_pool3d, *_MAXPOOL),
    _spec("avg_pool1d", F.avg_pool1d, *_AVGPOOL[:-1]),
    _spec("avg_pool2d", F.avg_pool2d, *_AVGPOOL),
    _spec("avg_pool3d", F.avg_pool3d, *_AVGPOOL),
    _spec("adaptive_avg_pool2d", F.adaptive_avg_pool2d, _t("input"), _a("output_size")),
    _spec("adaptive_max_pool2d", F.adaptive_max_pool2d, _t("input"), _a("output_size"),
          _a("return_indices", False)),
    _spec("upsample", F.interpolate, _t("input"), _a("size"), _a("scale_factor"),
          _a("mode", "nearest"), _a("align_corners"), _a("recompute_scale_factor"),
          _a("antialias", False)),
    _spec("pixel_shuffle", F.pixel_shuffle, _t("input"), _a("upscale_factor")),
    _spec("pad", F.pad, _t("input"), _a("pad"), _a("mode", "constant"), _a("value")),
    _spec("cat", torch.cat, Param("tensors", "L"), _a("dim", 0)),
    _spec("stack", torch.stack, Param("tensors", "L"), _a("dim", 0)),
    _spec("add", torch.add, *_BINARY, _a("alpha", 1)),
    _spec("sub", torch.sub, *_BINARY, _a("alpha", 1)),
    _spec("mul", torch.mul, *_BINARY),
    _spec("div", torch.div, *_BINARY, _a("rounding_mode")),
    _spec("matmul", torch.matmul, *_BINARY),
    _spec("relu", torch.relu, _t("input"), drop=_INPLACE),
    _spec("relu6", F.relu6, _t("input"), drop=_INPLACE),
    _spec("sigmoid", torch.sigmoid, _t("input")),
    _spec("tanh", torch.tanh, _t("input")),
    _spec("silu", F.silu, _t("input"), drop=_INPLACE),
    _spec("gelu", F.gelu, _t("input"), _a("approximate", "none")),
    _spec("elu", F.elu, _t("input"), _a("alpha", 1.0), drop=_INPLACE),
    _spec("leaky_relu", F.leaky_relu, _t("input"), _a("negative_slope", 0.01), drop=_INPLACE),
    _spec("hardtanh", F.hardtanh, _t("input"), _a("min_val", -1.0), _a("max_val", 1.0),
          drop=_INPLACE),
    _spec("softplus", F.softplus, _t("input"), _a("beta", 1.0), _a("threshold", 20.0)),
    _spec("prelu", F.prelu, _t("input"), _t("weight")),
    _spec("softmax", F.softmax, _t("input"), _a("dim"), drop=("_stacklevel", "dtype")),
    _spec("log_softmax", F.log_softmax, _t("input"), _a("dim"),
          drop=("_stacklevel", "dtype")),
    _spec("dropout", F.dropout, *_DROPOUT, drop=_INPLACE),
    _spec("dropout1d", F.dropout1d, *_DROPOUT, drop=_INPLACE),
    _spec("dropout2d", F.dropout2d, *_DROPOUT, drop=_INPLACE),
    _spec("dropout3d", F.dropout3d, *_DROPOUT, drop=_INPLACE),
    _spec("alpha_dropout", F.alpha_dropout, *_DROPOUT, drop=_INPLACE),
    _spec("feature_alpha_dropout", F.feature_alpha_dropout, *_DROPOUT, drop=_INPLACE),
    _spec("detach", torch.detach, _t("input")),
    _spec("identity", _identity, _t("input")),
]}

# Raw function names (after in-place / dunder stripping) that mean a canonical op.
ALIASES: dict[str, str] = {
    "interpolate": "upsample", "upsample_nearest": "upsample", "upsample_bilinear": "upsample",
    "max_pool2d_with_indices": "max_pool2d", "max_pool1d_with_indices": "max_pool1d",
    "max_pool3d_with_indices": "max_pool3d", "adaptive_max_pool2d_with_indices":
    "adaptive_max_pool2d", "concat": "cat", "concatenate": "cat", "true_divide": "div",
    "divide": "div", "truediv": "div", "multiply": "mul", "subtract": "sub",
    "feature_dropout": "dropout2d", "data": "detach", "convolution": "conv2d",
}

# Arguments of spec ops that some spelling passes positionally in another order.
SOURCE_ORDER: dict[Any, tuple[str, ...]] = {
    torch.batch_norm: ("input", "weight", "bias", "running_mean", "running_var", "training",
                       "momentum", "eps", "cudnn_enabled"),
    torch.instance_norm: ("input", "weight", "bias", "running_mean", "running_var",
                          "use_input_stats", "momentum", "eps", "cudnn_enabled"),
    torch.dropout: ("input", "p", "training"),
    torch.feature_dropout: ("input", "p", "training"),
    torch.alpha_dropout: ("input", "p", "training"),
    F.upsample_nearest: ("input", "size", "scale_factor"),
    F.upsample_bilinear: ("input", "size", "scale_factor"),
}
# Fixed attributes implied by a spelling (F.upsample_bilinear always aligns corners).
IMPLIED: dict[Any, dict[str, Any]] = {
    F.upsample_nearest: {"mode": "nearest"},
    F.upsample_bilinear: {"mode": "bilinear", "align_corners": True},
}
KWARG_ALIASES = {"train": "training", "axis": "dim", "negative_slope": "negative_slope"}
ALWAYS_DROP = frozenset({"cudnn_enabled", "cudnn_enable"})

# Ops that never change values: skipped, their output is their input.
IDENTITY = frozenset({"contiguous", "clone", "to", "type", "float", "cpu", "cuda",
                      "requires_grad", "type_as", "retain_grad", "pin_memory", "coalesce"})
# Ops that read metadata only: a non-tensor result that does not depend on values.
METADATA = frozenset({"size", "dim", "shape", "numel", "ndim", "ndimension", "dtype", "device",
                      "is_contiguous", "requires_grad", "grad_fn", "is_leaf", "len", "stride",
                      "data_ptr", "is_floating_point", "is_complex", "element_size", "nelement",
                      "repr", "format", "str", "hash", "layout", "is_cuda", "names",
                      "storage_offset", "get_device", "is_sparse", "has_names", "output_nr",
                      "untyped_storage", "storage", "set_grad_enabled", "is_grad_enabled",
                      "is_quantized", "is_meta", "is_mkldnn", "itemsize", "nbytes", "grad",
                      "name", "is_nested", "bool_dims", "dim_order", "reduce_ex", "deepcopy"})
# Non-tensor results computed from values: the data dependence is lost, so it is noted.
VALUE_READS = frozenset({"item", "tolist", "numpy", "int", "float_", "bool", "index",
                         "array", "eq_scalar", "any_", "all_"})

# Ops without a spec that replay re-executes from their recorded arguments: namespace -> names.
GENERIC: dict[str, frozenset[str]] = {
    "tensor": frozenset({
        "view", "reshape", "flatten", "permute", "transpose", "squeeze", "unsqueeze", "expand",
        "expand_as", "view_as", "reshape_as", "repeat", "narrow", "chunk", "split", "flip",
        "roll", "getitem", "setitem", "T", "mT", "t", "unflatten", "movedim",
        "abs", "exp", "log", "sqrt", "rsqrt", "neg", "pow", "clamp", "clip", "square",
        "sin", "cos", "mean", "sum", "amax", "amin", "max", "min", "argmax", "argmin", "std",
        "var", "norm", "sign", "reciprocal", "floor", "ceil", "round", "maximum", "minimum",
        "where", "masked_fill", "zero", "fill", "exp2", "log2", "log1p", "expm1", "erf",
        "softmax", "log_softmax", "relu", "sigmoid", "tanh", "bmm", "mm", "eq", "ne", "gt",
        "lt", "ge", "le", "logical_not", "bitwise_not", "floordiv", "remainder", "fmod",
        "detach", "zeros_like", "ones_like", "full_like", "lerp", "addmm", "squeeze_",
        "prod", "cumsum", "logsumexp", "all", "any", "gather", "index_select",
    }),
    "torch": frozenset({
        "flatten", "reshape", "permute", "transpose", "squeeze", "unsqueeze", "chunk", "split",
        "flip", "roll", "abs", "exp", "log", "sqrt", "rsqrt", "neg", "pow", "clamp", "clip",
        "square", "mean", "sum", "amax", "amin", "max", "min", "argmax", "argmin", "std", "var",
        "norm", "sign", "maximum", "minimum", "where", "zeros_like", "ones_like", "full_like",
        "bmm", "mm", "einsum", "movedim", "unflatten", "sin", "cos", "logsumexp", "prod",
        "cumsum", "lerp", "addmm", "erf", "floor", "ceil", "round", "reciprocal", "gather",
        "index_select", "eq", "ne", "gt", "lt", "ge", "le", "hstack", "vstack", "dstack",
        "zeros", "ones", "full", "arange", "linspace", "eye", "tensor", "as_tensor", "squeeze_",
    }),
    "functional": frozenset({
        "hardswish", "hardsigmoid", "mish", "logsigmoid", "softsign", "tanhshrink", "selu",
        "celu", "glu", "normalize", "pixel_unshuffle", "adaptive_avg_pool1d",
        "adaptive_max_pool1d", "adaptive_avg_pool3d", "softmin", "threshold", "one_hot",
        "unfold", "fold", "embedding", "channel_shuffle", "local_response_norm", "hardshrink",
        "softshrink", "rrelu", "lp_pool2d", "affine_grid", "grid_sample", "cosine_similarity",
    }),
}
# Generic ops whose result depends on a random draw: replay cannot reproduce the values.
RANDOM = frozenset({"rrelu", "dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout",
                    "feature_alpha_dropout", "rand", "randn", "rand_like", "randn_like",
                    "bernoulli", "multinomial", "normal", "randint", "randperm", "uniform",
                    "exponential", "cauchy", "geometric", "log_normal", "random"})

# Names that differ between the recorded spelling and the replay namespace.
GENERIC_CALL_NAMES = {"getitem": "__getitem__", "setitem": "__setitem__",
                      "floordiv": "__floordiv__"}

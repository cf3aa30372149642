"""Exact weight/output/connection counts, measured on the reference model itself.

Nothing here is a hand-written formula: a model is built at a given (NIC, NF, NC, k), run once
on a ``1 x NIC x size x size`` input with forward hooks on every leaf module and every top-level
block, and the counts are read off the recorded parameters and shapes. The formulas students
are compared against are interpolated from these measurements (see ``fit.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["CountError", "Layer", "Trace", "trace", "model_names", "one_thread"]


@contextmanager
def one_thread() -> Iterator[None]:
    """Run tiny tensors on one thread: extra threads only contend on a shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class CountError(RuntimeError):
    """The reference model cannot be built or run at the requested sizes."""


@dataclass(frozen=True)
class Layer:
    """One leaf-module call, with the numbers every counting convention needs."""

    name: str
    kind: str  # conv | convT | bn | resample | relu | other
    out_units: int  # output elements for one sample
    weight: int  # conv/convT kernel elements, or BN gamma elements
    bias: int  # conv/convT bias elements, or BN beta elements
    dense_connections: int  # out_units x (k^2 * C_in): every kernel tap counted
    exact_connections: int  # only taps that land on real (non-padding) input units


@dataclass(frozen=True)
class Trace:
    layers: tuple[Layer, ...]
    block_outputs: tuple[tuple[str, int], ...]  # top-level children and their output units
    output_shape: tuple[int, ...]


def model_names() -> list[str]:
    from reference.models import MODELS

    return sorted(MODELS)


def _kind(module: nn.Module) -> str:
    from reference.models import MyConv2d

    if isinstance(module, nn.ConvTranspose2d):
        return "convT"
    if isinstance(module, (nn.Conv2d, MyConv2d)):
        return "conv"
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        return "bn"
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d, nn.Upsample, nn.UpsamplingNearest2d)):
        return "resample"
    if isinstance(module, (nn.ReLU, nn.LeakyReLU)):
        return "relu"
    return "other"


def _pair(value: int | tuple[int, ...] | str) -> tuple[int, int] | str:
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return (value, value)
    return (int(value[0]), int(value[1]))


def _exact_taps(module: nn.Module, kind: str, in_hw: tuple[int, int]) -> int:
    """Kernel taps that hit real input units, summed over output positions (one channel pair).

    Computed by running the layer's own geometry on all-ones data with an all-ones kernel, so
    zero padding contributes nothing and transposed convs count only the taps they scatter.
    """
    weight = module.weight
    kh, kw = int(weight.shape[-2]), int(weight.shape[-1])
    ones = torch.ones(1, 1, *in_hw)
    kernel = torch.ones(1, 1, kh, kw)
    stride = _pair(getattr(module, "stride", 1))
    padding = _pair(getattr(module, "padding", 0))
    dilation = _pair(getattr(module, "dilation", 1))
    if kind == "convT":
        out_pad = _pair(getattr(module, "output_padding", 0))
        taps = F.conv_transpose2d(ones, kernel, None, stride, padding, out_pad, 1, dilation)
    else:
        taps = F.conv2d(ones, kernel, None, stride, padding, dilation)
    return int(round(float(taps.sum())))


@lru_cache(maxsize=4096)
def trace(model: str, nic: int, nf: int, nc: int, k: int, size: int) -> Trace:
    """Build ``model`` at (NIC, NF, NC, k), run one ``size x size`` input and record layers."""
    from reference.models import MODELS

    if model not in MODELS:
        raise CountError(f"unknown model {model!r}; choose one of {sorted(MODELS)}")
    torch.manual_seed(0)
    net = MODELS[model](k, nf, nc, nic).eval()
    layers: list[Layer] = []
    blocks: list[tuple[str, int]] = []
    handles = []

    def leaf_hook(name: str, kind: str):
        def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor):
            x = inputs[0]
            out_units = int(output[0].numel())
            weight = bias = dense = exact = 0
            if kind in ("conv", "convT", "bn"):
                w = getattr(module, "weight", None)
                b = getattr(module, "bias", None)
                weight = int(w.numel()) if isinstance(w, torch.Tensor) else 0
                bias = int(b.numel()) if isinstance(b, torch.Tensor) else 0
            if kind in ("conv", "convT"):
                c_out = int(output.shape[1])
                c_in = int(x.shape[1])
                per_unit = weight // c_out  # k^2 * C_in for conv and convT alike
                dense = out_units * per_unit
                exact = c_in * c_out * _exact_taps(module, kind, (x.shape[-2], x.shape[-1]))
            layers.append(Layer(name, kind, out_units, weight, bias, dense, exact))

        return hook

    def block_hook(name: str):
        def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor):
            blocks.append((name, int(output[0].numel())))

        return hook

    for name, module in net.named_modules():
        if name and not any(True for _ in module.children()):
            handles.append(module.register_forward_hook(leaf_hook(name, _kind(module))))
    for name, module in net.named_children():
        handles.append(module.register_forward_hook(block_hook(name)))
    try:
        with torch.no_grad(), one_thread():
            out = net(torch.zeros(1, nic, size, size))
    except RuntimeError as exc:
        raise CountError(
            f"{model} does not run at NIC={nic}, NF={nf}, NC={nc}, k={k} on a {size}x{size} "
            f"input ({str(exc).splitlines()[0]}); fix k (and NIC) with `given`"
        ) from None
    finally:
        for h in handles:
            h.remove()
    return Trace(tuple(layers), tuple(blocks), tuple(out.shape[1:]))

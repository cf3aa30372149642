"""The padding question (2023 §5.4 / 2022 B.4): which padding / output_padding keep the shapes.

Answers are checked by building the reference ConvTransposeNet at the asked kernel size, putting
the student's values into its stride-2 Conv2d and ConvTranspose2d layers, running a 32x32 input
and comparing each stride-2 layer's output size with what the same layers give in the handout's
k = 3 design. Any values that keep the shapes are accepted, not just the canonical ones; the
canonical ones are found by the same search, never written down here.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import torch
from torch import nn

from .counts import one_thread

__all__ = ["PaddingAnswer", "PaddingError", "read_padding", "run_strided", "valid_settings",
           "reference_sizes"]

Pair = tuple[int, int]


class PaddingError(ValueError):
    """A padding answer that cannot be read."""


@dataclass(frozen=True)
class PaddingAnswer:
    conv_padding: Pair
    convt_padding: Pair
    output_padding: Pair
    dilation: Pair = (1, 1)

    def describe(self) -> str:
        def one(p: Pair) -> str:
            return str(p[0]) if p[0] == p[1] else f"({p[0]}, {p[1]})"

        text = (f"Conv2d padding {one(self.conv_padding)}, ConvTranspose2d padding "
                f"{one(self.convt_padding)}, output_padding {one(self.output_padding)}")
        if self.dilation != (1, 1):
            text += f", dilation {one(self.dilation)}"
        return text


_ALIASES = {
    "conv": {"convpadding", "conv", "padding", "conv2dpadding", "conv2d", "downpadding",
             "stridedpadding", "p"},
    "convt": {"convtpadding", "convt", "transposepadding", "convtransposepadding",
              "convtranspose2dpadding", "convtranspose", "convtranspose2d", "deconvpadding",
              "deconv", "tconv", "tconvpadding", "uppadding", "transposedconvpadding",
              "convtransposedpadding", "transposedpadding"},
    "output_padding": {"outputpadding", "outpadding", "outpad", "op", "convtoutputpadding"},
    "dilation": {"dilation", "convtdilation"},
}


def _value(raw: Any, what: str) -> Pair:
    if isinstance(raw, bool):
        raise PaddingError(f"{what}: expected a number, got {raw!r}")
    if isinstance(raw, int):
        return (raw, raw)
    if isinstance(raw, (list, tuple)) and len(raw) == 2 and all(isinstance(v, int) for v in raw):
        return (int(raw[0]), int(raw[1]))
    if isinstance(raw, str):
        m = re.fullmatch(r"\s*[\(\[]?\s*(-?\d+)\s*(?:,\s*(-?\d+)\s*)?[\)\]]?\s*", raw)
        if m:
            first = int(m.group(1))
            return (first, int(m.group(2)) if m.group(2) is not None else first)
    raise PaddingError(f"{what}: cannot read {raw!r} as a padding value (write e.g. 1 or (1, 1))")


def read_padding(entry: Any) -> PaddingAnswer:
    """Read one kernel size's answer: a mapping, or text like ``padding=1, output_padding=0``."""
    if isinstance(entry, str):
        pairs = re.findall(r"([A-Za-z_][\w ]*?)\s*[=:]\s*(\(\s*-?\d+\s*,\s*-?\d+\s*\)|-?\d+)",
                           entry)
        if not pairs:
            raise PaddingError(f"cannot read {entry!r}: write e.g. 'padding=1, "
                               "convt_padding=1, output_padding=0'")
        entry = dict(pairs)
    if not isinstance(entry, dict):
        raise PaddingError(f"expected a mapping of padding values, got {entry!r}")
    found: dict[str, Pair] = {}
    for key, raw in entry.items():
        norm = re.sub(r"[^a-z0-9]", "", str(key).lower())
        role = next((r for r, names in _ALIASES.items() if norm in names), None)
        if role is None:
            known = "conv_padding, convt_padding, output_padding, dilation"
            raise PaddingError(f"unknown padding key {key!r} (use {known})")
        found[role] = _value(raw, str(key))
    if "conv" not in found and "convt" not in found:
        raise PaddingError("no padding value given")
    if "output_padding" not in found:
        raise PaddingError("no output_padding value given")
    conv = found.get("conv", found.get("convt"))
    convt = found.get("convt", conv)
    assert conv is not None and convt is not None
    return PaddingAnswer(conv, convt, found["output_padding"], found.get("dilation", (1, 1)))


def _strided(net: nn.Module) -> list[tuple[str, nn.Module]]:
    out = []
    for name, module in net.named_modules():
        if isinstance(module, nn.ConvTranspose2d) or (
            isinstance(module, nn.Conv2d) and tuple(module.stride) != (1, 1)
        ):
            out.append((name, module))
    return out


def _fresh(model: str, k: int) -> nn.Module:
    from reference.models import MODELS

    torch.manual_seed(0)
    return MODELS[model](k, 2, 3, 1).eval()


@lru_cache(maxsize=16)
def _reusable(model: str, k: int) -> nn.Module:
    """One small net per kernel whose stride-2 layers get every tried setting written in."""
    return _fresh(model, k)


def run_strided(model: str, k: int, answer: PaddingAnswer | None
                ) -> tuple[list[tuple[str, str, Pair]], str | None]:
    """Output sizes of the stride-2 layers with ``answer`` put in (None: the model as written).

    Returns ``([(layer name, layer type, (H, W)), ...], error message or None)``; layers after
    an error are missing from the list.
    """
    net = _fresh(model, k) if answer is None else _reusable(model, k)
    layers = _strided(net)
    if answer is not None:
        for _, module in layers:
            if isinstance(module, nn.ConvTranspose2d):
                module.padding = answer.convt_padding
                module.output_padding = answer.output_padding
                module.dilation = answer.dilation
            else:
                module.padding = answer.conv_padding
    sizes: list[tuple[str, str, Pair]] = []
    handles = [
        module.register_forward_hook(
            lambda mod, inp, out, name=name: sizes.append(
                (name, type(mod).__name__, (int(out.shape[-2]), int(out.shape[-1])))
            )
        )
        for name, module in layers
    ]
    error = None
    try:
        with torch.no_grad(), one_thread():
            net(torch.zeros(1, 1, 32, 32))
    except RuntimeError as exc:
        error = str(exc).splitlines()[0]
    finally:
        for h in handles:
            h.remove()
    return sizes, error


@lru_cache(maxsize=8)
def reference_sizes(model: str) -> tuple[Pair, ...]:
    """Stride-2 layer output sizes of the handout's own design (k = 3): the shapes to keep."""
    sizes, error = run_strided(model, 3, None)
    if error:
        raise RuntimeError(f"reference {model} does not run at k=3: {error}")
    return tuple(s for _, _, s in sizes)


@lru_cache(maxsize=32)
def valid_settings(model: str, k: int) -> tuple[PaddingAnswer, ...]:
    """Every (padding, ConvT padding, output_padding) with dilation 1 that keeps the shapes."""
    target = reference_sizes(model)
    found = []
    for p, pt, op in itertools.product(range(k + 1), range(k + 1), range(2)):
        answer = PaddingAnswer((p, p), (pt, pt), (op, op))
        sizes, error = run_strided(model, k, answer)
        if error is None and tuple(s for _, _, s in sizes) == target:
            found.append(answer)
    return tuple(found)

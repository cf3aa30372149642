"""Counting conventions a student may reasonably follow, and the handout questions.

Each convention is a rule over a measured ``Trace`` (see ``counts.py``), never a formula. The
first convention of each quantity is the handout's own; the others are what the 2023 handout
("BN-inclusive answers are accepted") and real student answers show people also count.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .counts import Trace

__all__ = ["COUNTING_KEYS", "Convention", "CONVENTIONS", "QUANTITIES", "Question", "QUESTIONS",
           "MODEL_GIVEN",
           "convention"]

QUANTITIES = ("weights", "outputs", "connections")


@dataclass(frozen=True)
class Convention:
    quantity: str
    id: str
    label: str
    count: Callable[[Trace], int]
    default: bool = True  # accepted unless an answers file's `accept:` says otherwise


def _sum(trace: Trace, kinds: tuple[str, ...], attr: str) -> int:
    return sum(getattr(layer, attr) for layer in trace.layers if layer.kind in kinds)


_CONV = ("conv", "convT")

CONVENTIONS: dict[str, tuple[Convention, ...]] = {
    "weights": (
        Convention("weights", "conv", "conv kernel weights only (handout: no bias, no BN)",
                   lambda t: _sum(t, _CONV, "weight")),
        Convention("weights", "conv+bias", "conv weights + biases",
                   lambda t: _sum(t, _CONV, "weight") + _sum(t, _CONV, "bias")),
        Convention("weights", "conv+bn", "conv weights + BatchNorm γ, β (no biases)",
                   lambda t: _sum(t, _CONV, "weight") + _sum(t, ("bn",), "weight")
                   + _sum(t, ("bn",), "bias")),
        Convention("weights", "conv+bias+bn", "all trainable parameters (biases and BatchNorm)",
                   lambda t: _sum(t, (*_CONV, "bn"), "weight") + _sum(t, (*_CONV, "bn"), "bias")),
    ),
    "outputs": (
        Convention("outputs", "conv", "conv / transposed-conv output units (handout)",
                   lambda t: _sum(t, _CONV, "out_units")),
        Convention("outputs", "conv+resample", "conv + max-pool / upsample output units",
                   lambda t: _sum(t, (*_CONV, "resample"), "out_units")),
        Convention("outputs", "conv+resample+bn", "conv + pool/upsample + BatchNorm output units",
                   lambda t: _sum(t, (*_CONV, "resample", "bn"), "out_units")),
        Convention("outputs", "all-layers", "every layer's output units (incl. BatchNorm, ReLU)",
                   lambda t: _sum(t, (*_CONV, "resample", "bn", "relu", "other"), "out_units")),
        # Not accepted by default: it is also what a student gets who sizes every conv at its
        # block's post-pool resolution. Recognised so the hint can say what was counted.
        Convention("outputs", "blocks", "one output per block (the units after each block)",
                   lambda t: sum(units for _, units in t.block_outputs), default=False),
    ),
    "connections": (
        Convention("connections", "conv", "k²·C_in per conv output unit (handout)",
                   lambda t: _sum(t, _CONV, "dense_connections")),
        Convention("connections", "conv+bias", "k²·C_in + 1 (bias) per conv output unit",
                   lambda t: _sum(t, _CONV, "dense_connections") + _sum(t, _CONV, "out_units")),
        Convention("connections", "exact", "only taps on real inputs (zero padding excluded)",
                   lambda t: _sum(t, _CONV, "exact_connections")),
        Convention("connections", "exact+bias", "taps on real inputs + 1 (bias) per output unit",
                   lambda t: _sum(t, _CONV, "exact_connections") + _sum(t, _CONV, "out_units")),
    ),
}


def convention(quantity: str, conv_id: str) -> Convention:
    for conv in CONVENTIONS[quantity]:
        if conv.id == conv_id:
            return conv
    known = ", ".join(c.id for c in CONVENTIONS[quantity])
    raise KeyError(f"unknown {quantity} convention {conv_id!r}; known: {known}")


# Values a model's questions fix unless the answers file says otherwise. The 2020 handout asks
# for the CNN as a function of NF and NC only (greyscale input, k = 3); the stride-2 nets keep
# their shapes only at k = 3 with the handout's fixed padding 1, so k is pinned there too.
MODEL_GIVEN: dict[str, dict[str, int]] = {
    "CNN": {"NIC": 1, "k": 3},
    "UNet2020": {"NIC": 1, "k": 3},
    "PoolUpsampleNet": {},
    "ConvTransposeNet": {"k": 3},
    "UNet": {"k": 3},
}


@dataclass(frozen=True)
class Question:
    id: str
    model: str
    kind: str  # "counting" or "padding"
    title: str
    given: dict[str, int] = field(default_factory=dict)
    kernels: tuple[int, ...] = ()  # padding question: the kernel sizes asked about
    # variables the question's wording does not ask for, whose handout value an answer may
    # substitute without losing credit (2022/2023 ask "as a function of NIC, NF and NC" of a
    # model whose kernel defaults to 3, so 9·NIC·NF answers the question as asked)
    substitutable: dict[str, int] = field(default_factory=dict)


_COUNTING_KEYS = tuple(q + suffix for q in QUANTITIES for suffix in ("", "_doubled"))

QUESTIONS: dict[str, Question] = {
    q.id: q
    for q in (
        Question("2020/A.3", "CNN", "counting", "2020 Part A.3: CNN weights, outputs, connections",
                 {"NIC": 1, "k": 3}),
        Question("2022/A.3", "PoolUpsampleNet", "counting",
                 "2022 Part A.3: PoolUpsampleNet weights, outputs, connections",
                 substitutable={"k": 3}),
        Question("2023/4.3", "PoolUpsampleNet", "counting",
                 "2023 §4.3: PoolUpsampleNet weights, outputs, connections",
                 substitutable={"k": 3}),
        Question("2022/B.4", "ConvTransposeNet", "padding",
                 "2022 Part B.4: padding and output_padding for k = 4 and 5", kernels=(4, 5)),
        Question("2023/5.4", "ConvTransposeNet", "padding",
                 "2023 §5.4: padding and output_padding for k = 4 and 5", kernels=(4, 5)),
    )
}

COUNTING_KEYS = _COUNTING_KEYS

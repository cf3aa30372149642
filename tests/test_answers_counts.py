"""Counts measured on the reference models agree with the published numbers and formulas."""

from __future__ import annotations

import pytest
import sympy

from grader.answers.conventions import CONVENTIONS, convention
from grader.answers.counts import CountError, trace
from grader.answers.fit import expected_formula, measured
from grader.answers.parse import SYMBOLS, parse_answer
from reference.models import MODELS, count_parameters

DEFAULT = {"NIC": 1, "NF": 32, "NC": 24, "k": 3}


@pytest.mark.parametrize("model", sorted(MODELS))
@pytest.mark.parametrize(("nic", "nf", "nc"), [(1, 32, 24), (3, 5, 7)])
def test_all_trainable_parameters_equal_the_models_own_count(model: str, nic: int, nf: int,
                                                             nc: int) -> None:
    net = MODELS[model](3, nf, nc, nic)
    point = {"NIC": nic, "NF": nf, "NC": nc, "k": 3}
    assert measured(model, "weights", "conv+bias+bn", point, 32) == count_parameters(net)


@pytest.mark.parametrize(
    ("model", "total", "conv_with_bias"),
    # ASSIGNMENTS.md §2: totals and "in convolutions" at k=3, NF=32, NC=24, NIC=1
    [("CNN", 86_784, 86_352), ("UNet2020", 112_344, 111_912),
     ("PoolUpsampleNet", 49_728, 49_424), ("ConvTransposeNet", 49_728, 49_424),
     ("UNet", 56_856, 56_552)],
)
def test_published_parameter_totals(model: str, total: int, conv_with_bias: int) -> None:
    assert measured(model, "weights", "conv+bias+bn", DEFAULT, 32) == total
    assert measured(model, "weights", "conv+bias", DEFAULT, 32) == conv_with_bias


# ASSIGNMENTS.md §2 and §6.4, as printed there; compared with the interpolated formulas.
PUBLISHED = [
    ("PoolUpsampleNet", {}, "weights", "conv", 32, "k²(NIC·NF + 4NF² + NF·NC + NC²)"),
    ("PoolUpsampleNet", {}, "weights", "conv", 64, "k²(NIC·NF + 4NF² + NF·NC + NC²)"),
    ("PoolUpsampleNet", {}, "outputs", "conv", 32, "1024NF + 512NF + 64NF + 256NC + 1024NC"),
    ("PoolUpsampleNet", {}, "outputs", "conv", 64, "4(1600NF + 1280NC)"),
    ("PoolUpsampleNet", {}, "outputs", "conv+resample+bn", 32, "2880NF + 3328NC"),
    ("PoolUpsampleNet", {}, "connections", "conv", 32,
     "k²(1024·NIC·NF + 512NF² + 128NF² + 256NF·NC + 1024NC²)"),
    ("PoolUpsampleNet", {}, "connections", "conv", 64,
     "4k²(1024·NIC·NF + 640NF² + 256NF·NC + 1024NC²)"),
    ("CNN", {"NIC": 1}, "weights", "conv", 32, "k²(NIC·NF + 8NF² + NF·NC + NC²)"),
    ("CNN", {"NIC": 1, "k": 3}, "weights", "conv", 32, "9NF + 72NF^2 + 9NF*NC + 9NC^2"),
    ("CNN", {"NIC": 1, "k": 3}, "connections", "conv", 32,
     "9216NF + 8064NF² + 2304NF·NC + 9216NC²"),
    ("CNN", {"NIC": 1, "k": 3}, "outputs", "conv", 32, "1728NF + 1280NC"),
    ("CNN", {"NIC": 1, "k": 3}, "outputs", "conv+resample", 32, "2368NF + 2304NC"),
    ("CNN", {"NIC": 1, "k": 3}, "outputs", "conv+resample", 64, "4(2368NF + 2304NC)"),
]


@pytest.mark.parametrize(("model", "given", "quantity", "conv_id", "size", "text"), PUBLISHED)
def test_published_formulas_match_the_measured_counts(model: str, given: dict[str, int],
                                                      quantity: str, conv_id: str, size: int,
                                                      text: str) -> None:
    published = parse_answer(text).subs({SYMBOLS[n]: v for n, v in given.items()})
    formula = expected_formula(model, quantity, conv_id, given, size)
    assert formula is not None
    assert sympy.expand(formula - published) == 0


def test_conventions_are_distinct_for_the_handout_models() -> None:
    for model in ("CNN", "PoolUpsampleNet"):
        tr = trace(model, 1, 32, 24, 3, 32)
        for quantity, convs in CONVENTIONS.items():
            values = [c.count(tr) for c in convs]
            assert len(set(values)) == len(values), (model, quantity, values)


def test_padding_taps_are_excluded_only_by_the_exact_convention() -> None:
    padded = trace("PoolUpsampleNet", 1, 4, 3, 3, 32)
    dense = convention("connections", "conv").count(padded)
    exact = convention("connections", "exact").count(padded)
    assert 0 < exact < dense
    unpadded = trace("PoolUpsampleNet", 1, 4, 3, 1, 32)  # k = 1: no padding at all
    assert convention("connections", "exact").count(unpadded) == \
        convention("connections", "conv").count(unpadded)


def test_stride_two_transposed_convs_use_about_a_quarter_of_their_taps() -> None:
    tr = trace("ConvTransposeNet", 1, 8, 4, 3, 32)
    convt = [layer for layer in tr.layers if layer.kind == "convT"]
    assert convt
    for layer in convt:
        assert layer.exact_connections < layer.dense_connections / 2


def test_models_that_only_keep_shapes_at_k3_refuse_other_kernels_clearly() -> None:
    with pytest.raises(CountError, match="fix k"):
        trace("UNet", 1, 2, 2, 5, 32)

"""The padding question: values are checked by building the layers, not against a key."""

from __future__ import annotations

import pytest

from grader.answers.check import check_padding
from grader.answers.padding import (
    PaddingAnswer,
    PaddingError,
    read_padding,
    reference_sizes,
    run_strided,
    valid_settings,
)

MODEL = "ConvTransposeNet"


def test_the_shapes_to_keep_come_from_the_k3_design() -> None:
    assert reference_sizes(MODEL) == ((16, 16), (8, 8), (16, 16), (32, 32))


@pytest.mark.parametrize("k", [3, 4, 5, 6])
def test_search_finds_the_published_rule(k: int) -> None:
    # ASSIGNMENTS.md §6.5: padding (k-1)//2, output_padding 1 for odd k and 0 for even k
    p, op = (k - 1) // 2, k % 2
    assert valid_settings(MODEL, k) == (PaddingAnswer((p, p), (p, p), (op, op)),)


@pytest.mark.parametrize(
    ("k", "entry"),
    [
        (4, {"conv_padding": 1, "convt_padding": 1, "output_padding": 0}),
        (5, {"conv_padding": 2, "convt_padding": 2, "output_padding": 1}),
        (5, {"padding": 2, "output_padding": 1}),  # one padding for both layer types
        (4, "padding = 1, ConvT padding = 1, output_padding = 0"),
        (5, {"Conv2d padding": "(2, 2)", "ConvTranspose2d padding": [2, 2], "output padding": "1"}),
    ],
)
def test_canonical_answers(k: int, entry: object) -> None:
    verdict = check_padding(f"padding.k{k}", entry, MODEL, k)
    assert verdict.status == "correct"
    assert verdict.hints == []


def test_alternative_values_that_keep_the_shapes_are_accepted() -> None:
    # a dilated transposed conv: (8-1)*2 - 2*3 + 2*(4-1) + 1 + 1 = 16
    entry = {"conv_padding": 1, "convt_padding": 3, "output_padding": 1, "dilation": 2}
    verdict = check_padding("padding.k4", entry, MODEL, 4)
    assert verdict.status == "correct"
    assert any("differs from the usual values" in h for h in verdict.hints)
    assert any("dilation" in h for h in verdict.hints)
    sizes, error = run_strided(MODEL, 4, read_padding(entry))
    assert error is None and [s for _, _, s in sizes] == [(16, 16), (8, 8), (16, 16), (32, 32)]


def test_wrong_conv_padding_names_the_first_wrong_layer() -> None:
    verdict = check_padding("padding.k4", {"padding": 2, "output_padding": 0}, MODEL, 4)
    assert verdict.status == "incorrect"
    assert verdict.hints == ["Conv2d conv1.0 gives 17×17, expected 16×16"]
    assert verdict.expected == ("Conv2d padding 1, ConvTranspose2d padding 1, "
                                "output_padding 0")


def test_the_starter_default_for_even_kernels_is_wrong() -> None:
    # the starter's kernel // 2 = 2 and output_padding = 1 give 32 -> 17 for k = 4
    verdict = check_padding("padding.k4", {"padding": 2, "output_padding": 1}, MODEL, 4)
    assert verdict.status == "incorrect"


def test_wrong_output_padding_for_odd_kernel() -> None:
    verdict = check_padding("padding.k5", {"padding": 2, "output_padding": 0}, MODEL, 5)
    assert verdict.status == "incorrect"
    assert verdict.hints == ["ConvTranspose2d upconv1.0 gives 15×15, expected 16×16"]


def test_values_pytorch_rejects_are_reported() -> None:
    verdict = check_padding("padding.k5",
                            {"conv_padding": 2, "convt_padding": 2, "output_padding": 2},
                            MODEL, 5)
    assert verdict.status == "incorrect"
    assert any("PyTorch rejects these values: output padding must be smaller" in h
               for h in verdict.hints)
    negative = check_padding("padding.k4", {"padding": -1, "output_padding": 0}, MODEL, 4)
    assert negative.status == "incorrect"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"padding": 1}, "no output_padding"),
        ({"output_padding": 0}, "no padding value"),
        ({"padding": "one", "output_padding": 0}, "cannot read 'one'"),
        ({"stride": 2, "output_padding": 0}, "unknown padding key 'stride'"),
        ("I am not sure", "cannot read"),
    ],
)
def test_unreadable_entries(entry: object, message: str) -> None:
    with pytest.raises(PaddingError, match=message):
        read_padding(entry)
    assert check_padding("padding.k4", entry, MODEL, 4).status == "unparseable"


def test_missing_entry() -> None:
    assert check_padding("padding.k5", None, MODEL, 5).status == "missing"

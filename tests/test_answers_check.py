"""Judging counting answers: conventions, variants, partial credit and term-level hints."""

from __future__ import annotations

import pytest

from grader.answers.check import Context, check_count
from grader.answers.conventions import CONVENTIONS
from grader.answers.fit import expected_formula
from grader.answers.pretty import format_expr

CNN_NIC1 = Context.for_model("CNN", given={"NIC": 1, "k": None})  # formula in NF, NC, k
CNN_2020 = Context.for_model("CNN", question="2020/A.3")  # NIC = 1, k = 3
POOL = Context.for_model("PoolUpsampleNet", question="2023/4.3")  # everything free


@pytest.mark.parametrize(
    ("ctx", "key", "text", "conv_id"),
    [
        (CNN_NIC1, "weights", "k^2 (NC^2 + NC NF + 8 NF^2 + NF) + 4 NC + 18 NF", "conv+bias+bn"),
        (CNN_NIC1, "weights", "k^2 NC^2 + k^2 NC NF + 8 k^2 NF^2 + k^2 NF + 2 NC + 12 NF",
         "conv+bn"),
        (CNN_2020, "weights", "k^2 (NC^2 + NC NF + 8 NF^2 + NF) + 4 NC + 18 NF", "conv+bias+bn"),
        (CNN_2020, "weights", "9NF + 72NF^2 + 9NF*NC + 9NC^2", "conv"),
        (CNN_2020, "connections", "9216NF + 8064NF² + 2304NF·NC + 9216NC²", "conv"),
        (CNN_2020, "outputs", "1728NF + 1280NC", "conv"),
        (CNN_2020, "outputs", "2368NF + 2304NC", "conv+resample"),
        (POOL, "weights", "k^2 (NIC NF + 4 NF^2 + NF NC + NC^2)", "conv"),
        (POOL, "outputs", "1600NF + 1280NC", "conv"),
        (POOL, "outputs", "2880 NF + 3328 NC", "conv+resample+bn"),
        (POOL, "connections", "k²(1024·NIC·NF + 640NF² + 256NF·NC + 1024NC²)", "conv"),
        (POOL, "outputs_doubled", "4(1600NF + 1280NC)", "conv"),
        (POOL, "connections_doubled", r"4 k^2 \left(1024 NIC NF + 640NF^2 + 256 NF NC"
         r" + 1024 NC^2\right)", "conv"),
    ],
)
def test_correct_answers_name_their_convention(ctx: Context, key: str, text: str,
                                               conv_id: str) -> None:
    verdict = check_count(key, text, ctx)
    assert verdict.status == "correct", verdict.hints
    assert verdict.convention == conv_id


@pytest.mark.parametrize(
    "text",
    [
        "k^2 (NIC NF + 4 NF^2 + NF NC + NC^2)",
        "k^2 NIC NF + 4 k^2 NF^2 + k^2 NF NC + k^2 NC^2",
        r"k^{2}\cdot\left(N_{IC}\cdot N_F + 2N_F^2 + 2N_F^2 + N_F N_C + N_C^2\right)",
        r"\frac{k^2 (2 NIC NF + 8 NF^2 + 2 NF NC + 2 NC^2)}{2}",
        "kernel**2 * (num_in_channels*num_filters + 4*num_filters**2 + num_filters*num_colours"
        " + num_colours**2)",
    ],
)
def test_latex_plain_factorised_and_expanded_forms_agree(text: str) -> None:
    verdict = check_count("weights", text, POOL)
    assert (verdict.status, verdict.convention) == ("correct", "conv")


@pytest.mark.parametrize("quantity", list(CONVENTIONS))
@pytest.mark.parametrize("model", ["PoolUpsampleNet", "CNN", "ConvTransposeNet"])
def test_every_convention_accepts_its_own_formula(model: str, quantity: str) -> None:
    ctx = Context.for_model(model)
    for conv in CONVENTIONS[quantity]:
        formula = expected_formula(model, quantity, conv.id, ctx.given, 32)
        assert formula is not None
        verdict = check_count(quantity, format_expr(formula), ctx)  # the pretty form re-read
        if conv.default:
            assert verdict.status == "correct"
            assert conv.id in verdict.matches
        elif verdict.status != "correct":  # it may coincide with an accepted one
            assert verdict.convention == conv.id
            assert "not marked under" in verdict.hints[0]


def test_non_default_convention_is_named_and_can_be_accepted() -> None:
    answer = "640 NF + 2048 NC"  # one output per block of PoolUpsampleNet
    verdict = check_count("outputs", answer, POOL)
    assert (verdict.status, verdict.convention) == ("incorrect", "blocks")
    ctx = Context.for_model("PoolUpsampleNet", accept={"outputs": ["conv", "blocks"]})
    assert check_count("outputs", answer, ctx).status == "correct"


def test_accept_restricts_the_conventions() -> None:
    ctx = Context.for_model("PoolUpsampleNet", accept={"outputs": ["conv"]})
    verdict = check_count("outputs", "2880 NF + 3328 NC", ctx)
    assert verdict.status == "incorrect"
    assert verdict.convention == "conv+resample+bn"
    assert "not marked under" in verdict.hints[0]
    wrong = check_count("outputs", "1600 NF + 1290 NC", ctx)
    assert wrong.convention == "conv"
    assert wrong.hints == ["the NC term: you have 1290NC, expected 1280NC"]


def test_wrong_coefficient_is_named() -> None:
    verdict = check_count("weights", "k^2 (NIC NF + 8 NF^2 + NF NC + NC^2)", POOL)
    assert verdict.status == "incorrect"
    assert verdict.convention == "conv"
    assert verdict.hints == ["the NF² term: you have 8k²·NF², expected 4k²·NF²"]
    assert verdict.expected == "k²(NIC·NF + 4NF² + NF·NC + NC²)"


def test_missing_and_extra_terms_are_named() -> None:
    verdict = check_count("weights", "k^2 (NIC NF + 4 NF^2 + NC^2) + 7 NC", POOL)
    assert verdict.status == "incorrect"
    assert "missing the NF·NC term (expected k²·NF·NC)" in verdict.hints
    assert any(h.startswith("the NC term: you have 7NC") for h in verdict.hints)


def test_wrong_power_of_k_is_named_per_term() -> None:
    verdict = check_count("connections", "k(1024 NIC NF + 640NF^2 + 256 NF NC + 1024 NC^2)",
                          POOL)
    assert verdict.status == "incorrect"
    assert "the NF² term: you have 640k·NF², expected 640k²·NF²" in verdict.hints


def test_closest_convention_is_the_one_with_fewest_wrong_terms() -> None:
    # biases counted (4NF + 2NC) but one bias term wrong: closest is conv+bias, not conv
    verdict = check_count("weights", "k^2 (NIC NF + 4 NF^2 + NF NC + NC^2) + 4 NF + 3 NC", POOL)
    assert verdict.convention == "conv+bias"
    assert verdict.hints == ["the NC term: you have 3NC, expected 2NC"]


def test_a_64x64_count_given_for_32x32_is_explained() -> None:
    verdict = check_count("outputs", "6400 NF + 5120 NC", POOL)
    assert verdict.status == "incorrect"
    assert verdict.hints == ["your answer is 4× the expected count (that is the count for a "
                             "64×64 input)"]


def test_another_quantity_is_recognised() -> None:
    verdict = check_count("outputs", "k^2 (NIC NF + 4 NF^2 + NF NC + NC^2)", POOL)
    assert verdict.status == "incorrect"
    assert any("this is the weights count" in h for h in verdict.hints)


def test_leaving_out_k_or_nic_is_partial() -> None:
    no_k = check_count("weights", "9 NIC NF + 36 NF^2 + 9 NF NC + 9 NC^2",
                       Context.for_model("PoolUpsampleNet"))   # no question: k is asked for
    assert no_k.status == "partial"
    assert "leaves out k" in no_k.hints[0] and "k = 3" in no_k.hints[0]
    no_nic = check_count("weights", "k^2 (NF + 4 NF^2 + NF NC + NC^2)", POOL)
    assert no_nic.status == "partial"
    assert "NIC = 1" in no_nic.hints[0]


def test_k_substituted_answers_a_question_that_asks_only_for_the_channels() -> None:
    """2023 asks "as a function of NIC, NF and NC" of a model whose kernel is 3 by default: a
    formula with 9 for k² answers it as asked; leaving out NIC still does not."""
    for key, text in (("weights", "9 NIC NF + 36 NF^2 + 9 NF NC + 9 NC^2"),
                      ("connections", "9216 NIC NF + 5760 NF^2 + 2304 NF NC + 9216 NC^2")):
        verdict = check_count(key, text, POOL)
        assert verdict.status == "correct", verdict
        assert verdict.hints == ["k = 3 substituted: the question asks for a formula in NIC, "
                                 "NF, NC"]
    wrong = check_count("weights", "9 NIC NF + 36 NF^2 + 9 NF NC + 10 NC^2", POOL)
    assert wrong.status == "incorrect"
    assert wrong.hints == ["the NC² term: you have 10NC², expected 9NC²"]   # compared at k = 3


def test_a_bare_number_at_the_default_sizes_is_partial() -> None:
    verdict = check_count("weights", "49,248", POOL)
    assert verdict.status == "partial"
    assert "a number, not a formula" in verdict.hints[0]
    assert check_count("weights", "49249", POOL).status == "incorrect"


@pytest.mark.parametrize(
    ("key", "text", "status", "hint"),
    [
        ("weights_doubled", "unchanged", "correct", None),
        ("weights_doubled", "the same as for 32x32", "correct", None),
        ("weights_doubled", "x4", "incorrect", "the weights count is unchanged (you wrote ×4)"),
        ("outputs_doubled", "×4", "correct", None),
        ("outputs_doubled", "4", "correct", None),
        ("outputs_doubled", "4x the 32x32 count", "correct", None),
        ("outputs_doubled", "doubles", "incorrect", "the outputs count grows ×4 (you wrote ×2)"),
        ("connections_doubled", r"$\times 4$", "correct", None),
        ("connections_doubled", "unchanged", "incorrect",
         "the connections count grows ×4 (you wrote ×1)"),
    ],
)
def test_doubled_input_factor_answers(key: str, text: str, status: str, hint: str | None
                                      ) -> None:
    verdict = check_count(key, text, POOL)
    assert verdict.status == status, verdict.hints
    if hint is not None:
        assert verdict.hints == [f"with a 64×64 input {hint}"]


def test_doubled_answer_that_is_a_bare_count_is_not_read_as_a_factor() -> None:
    verdict = check_count("outputs_doubled", "327680", POOL)  # 4 * (1600*32 + 1280*24)
    assert verdict.status == "partial"
    assert "a number, not a formula" in verdict.hints[0]


def test_doubled_answer_that_is_the_32x32_formula() -> None:
    verdict = check_count("outputs_doubled", "1600NF + 1280NC", POOL)
    assert verdict.status == "incorrect"
    assert verdict.hints == ["your answer is 1/4× the expected count (that is the count for a "
                             "32×32 input)"]


def test_doubled_answer_prefers_the_base_answers_convention() -> None:
    # weights factor x1 holds under every weights convention; the base one is reported
    verdict = check_count("weights_doubled", "unchanged", POOL, preferred="conv+bias+bn")
    assert verdict.convention == "conv+bias+bn"
    assert len(verdict.matches) == len(CONVENTIONS["weights"])


def test_unparseable_answer_points_at_the_problem() -> None:
    verdict = check_count("weights", "k^2 (NIC NF + 4 NF^2 + NF NC + NC^2", POOL)
    assert verdict.status == "unparseable"
    message, text, carets = verdict.hints[0].splitlines()
    assert message == "unclosed '('"
    assert carets.index("^") == text.index("(")


def test_missing_answer() -> None:
    assert check_count("outputs", "   ", POOL).status == "missing"
    assert check_count("outputs", None, POOL).status == "missing"


def test_unrunnable_model_setting_is_an_error_not_a_crash() -> None:
    ctx = Context.for_model("UNet", given={"k": None})  # UNet only keeps shapes at k = 3
    verdict = check_count("outputs", "640 NF + 2048 NC", ctx)
    assert verdict.status == "error"
    assert "fix k" in verdict.hints[0]

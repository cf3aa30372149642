"""Reading students' formulas: LaTeX, plain text, Unicode, sloppy spellings, and clear errors."""

from __future__ import annotations

from fractions import Fraction

import pytest
import sympy
import yaml

from grader.answers.parse import (
    NC,
    NF,
    NIC,
    AnswerParseError,
    K,
    canonical_variable,
    parse_answer,
    parse_factor,
)

POOL_WEIGHTS = K**2 * (NIC * NF + 4 * NF**2 + NF * NC + NC**2)


@pytest.mark.parametrize(
    "text",
    [
        "k^2 (NIC NF + 4 NF^2 + NF NC + NC^2)",
        "k**2 * (NIC*NF + 4*NF**2 + NF*NC + NC**2)",
        r"k^{2}\left(N_{IC} N_{F} + 4 N_{F}^{2} + N_{F} N_{C} + N_{C}^{2}\right)",
        r"$k^2(N_{IC}N_F + 4N_F^2 + N_FN_C + N_C^2)$",
        r"$$W = k^{2}\cdot\left(NIC\cdot NF + 4\,NF^{2} + NF\cdot NC + NC^{2}\right)$$",
        "k²(NIC·NF + 4NF² + NF·NC + NC²)",
        "K^2 (nic nf + 4 nf^2 + nf nc + nc^2)",
        "kernel_size^2 * (num_in_channels*num_filters + 4*num_filters^2 + num_filters*num_colours"
        " + num_colours^2)",
        r"k^2 C_{\text{in}} NF + 4k^2NF^2 + k^2 NF NC + k^2 NC^2",
        "k^2 NICNF + 4 k^2 NF^2 + k^2 NFNC + k^2 NC^2",
        r"\frac{k^2}{2} (2 NIC NF + 8 NF^2 + 2 NF NC + 2 NC^2)",
        r"\frac{2 k^2 NIC NF + 8 k^2 NF^2 + 2 k^2 NF NC + 2 k^2 NC^2}{2}",
        "k^2 × (NIC × NF + 4 × NF^2 + NF × NC + NC^2)",
        r"k^2 \times NIC \times NF + 4 \times k^2 \times NF^2 + k^2 NF NC + k^2 NC^2",
        "kNIC kNF + 4kNFkNF + k^2NF NC + k k NC NC",
        "k^2 (n_ic n_f + 4 n_f^2 + n_f n_c + n_c^2)",
        "weights = k^2 (NIC NF + 2NF^2 + 2 NF^2 + NF NC + NC^2)",
    ],
)
def test_spellings_of_the_same_formula(text: str) -> None:
    assert sympy.expand(parse_answer(text) - POOL_WEIGHTS) == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("9NF + 72 NF^2", 9 * NF + 72 * NF**2),
        (r"k^{2}\cdot NF^2", K**2 * NF**2),
        ("2 \\times NF", 2 * NF),
        ("NF*NC", NF * NC),
        ("1,024 NIC NF + 1{,}280 NC", 1024 * NIC * NF + 1280 * NC),
        ("0.5 NF", NF / 2),
        (r"\frac12 NF", NF / 2),
        ("2 x NF", 2 * NF),
        ("3 − NF", 3 - NF),  # Unicode minus
        (r"\mathrm{NF} \times \text{NC}", NF * NC),
        (r"N_\mathrm{F} N_\text{IC} + N_{\mathrm{C}}", NF * NIC + NC),
        ("NF(1600) + NC(1280)", 1600 * NF + 1280 * NC),
        ("32 x 32 x NF", 1024 * NF),
        ("k^2NF^2NC", K**2 * NF**2 * NC),
        ("[NF + NC](NF)", (NF + NC) * NF),
        (r"\{NF + 1\} NC", (NF + 1) * NC),
        ("k^2 (NF) (NC)", K**2 * NF * NC),
        ("k^2(1024·NIC·NF + 640NF² + 256NF·NC + 1024NC²)",
         K**2 * (1024 * NIC * NF + 640 * NF**2 + 256 * NF * NC + 1024 * NC**2)),
    ],
)
def test_forms(text: str, expected: sympy.Expr) -> None:
    assert sympy.expand(parse_answer(text) - expected) == 0


def test_yaml_double_quotes_that_ate_backslashes_are_repaired() -> None:
    # In a double-quoted YAML string "\t" is a TAB and "\f" a form feed: "\times" arrives as
    # TAB + "imes". The parser restores the LaTeX command instead of failing.
    raw = yaml.safe_load('w: "2 \\times NF + \\frac{NC}{2}"')["w"]
    assert "\t" in raw and "\x0c" in raw
    assert sympy.expand(parse_answer(raw) - (2 * NF + NC / 2)) == 0


def test_chain_of_equalities_uses_the_last_formula() -> None:
    text = "W = k^2(NIC NF + 4NF^2 + NF NC + NC^2) = 9 NIC NF + 36 NF^2 + 9 NF NC + 9 NC^2"
    assert sympy.expand(parse_answer(text) - 9 * (NIC * NF + 4 * NF**2 + NF * NC + NC**2)) == 0


def _caret_span(err: AnswerParseError) -> tuple[int, int]:
    caret_line = err.pointer().splitlines()[1]
    start = len(caret_line) - len(caret_line.lstrip(" "))
    return start, len(caret_line)


@pytest.mark.parametrize(
    ("text", "fragment", "culprit"),
    [
        ("k^2 (NC^2 + NC NF + 8 NF^2 + NF) + 4 NC + 18 NQ", "unknown name 'NQ'", "NQ"),
        ("k^2 (NF + NC", "unclosed '('", "("),
        ("k^2 NF + NC)", "unmatched ')'", ")"),
        ("9NF + 72NF^2 -", "expected a term after '-'", "-"),
        ("NF2 + NC", "ambiguous 'NF2'", "NF2"),
        (r"\sqrt{NF} + NC", "unsupported LaTeX command \\sqrt", "\\sqrt"),
        ("NF # NC", "unexpected character '#'", "#"),
        ("* NF", "'*' has nothing on its left", "*"),
        ("1 024 NF", "two numbers in a row", "1 024"),
        (r"\frac{NF}", "\\frac needs two arguments", "\\frac"),
        ("k^2 (NF + NC]", "'(' closed by ']'", "(NF + NC]"),
        ("__import__('os').system('true')", "unexpected character '_'", "_"),
        ("exec(NF)", "unknown name 'exec'", "exec"),
        ("2^(2^(2^10)) NF", "exponents must be whole numbers", "^"),
        ("(NF + NC)^999", "exponents must be whole numbers", "^999"),
        ("k^{1/2} NF", "exponents must be whole numbers", "^"),
    ],
)
def test_errors_point_at_the_offending_part(text: str, fragment: str, culprit: str) -> None:
    with pytest.raises(AnswerParseError) as info:
        parse_answer(text)
    err = info.value
    assert fragment in err.message
    start, end = _caret_span(err)
    assert start == text.index(culprit)
    assert text[start:end].startswith(culprit[: end - start])


def test_deep_nesting_and_long_answers_are_refused() -> None:
    with pytest.raises(AnswerParseError, match="nested too deeply"):
        parse_answer("(" * 40 + "NF" + ")" * 40)
    with pytest.raises(AnswerParseError, match="longer than"):
        parse_answer(" + ".join(["NF"] * 1000))


@pytest.mark.parametrize("text", ["", "   ", "$$", "W ="])
def test_empty_answers_are_errors(text: str) -> None:
    with pytest.raises(AnswerParseError):
        parse_answer(text)


@pytest.mark.parametrize(
    ("text", "factor"),
    [
        ("unchanged", 1), ("The same", 1), ("does not change", 1), ("remains the same", 1),
        ("x4", 4), ("×4", 4), (r"$\times 4$", 4), ("4x", 4), ("4 times larger", 4),
        ("quadruples", 4), ("it doubles", 2), ("16-fold", 16), ("by a factor of 4", 4),
        ("four times as many", 4), ("4x the 32x32 count", 4), ("64x64: 4 times more", 4),
        ("x4 (4 × (1600NF + 1280NC))", 4), ("same as for 32 × 32", 1),
    ],
)
def test_factor_phrases(text: str, factor: int) -> None:
    assert parse_factor(text) == Fraction(factor)


@pytest.mark.parametrize("text", ["k^2 NF", "I don't know", "1600NF + 1280NC"])
def test_non_factor_text(text: str) -> None:
    assert parse_factor(text) is None


@pytest.mark.parametrize(
    ("raw", "name"),
    [("N_F", "NF"), ("n_{ic}", "NIC"), ("C_in", "NIC"), ("K", "k"), ("num_colors", "NC"),
     ("W", None)],
)
def test_variable_names(raw: str, name: str | None) -> None:
    assert canonical_variable(raw) == name

"""Find the formula inside a sentence, read it, and read "how it changes" phrases.

A write-up rarely holds a bare formula: ``the number of weights would be 3 × 3 × NF, and ...``,
``$k^2(...)$ in total``, ``4 * NIC * NF * 9 (assuming 3x3 kernels)``. The parser in
``..parse`` reads formulas only, so the formula is cut out first: the longest run of tokens a
formula can hold (numbers, the four variables and their spellings, operators, brackets, the
LaTeX commands the parser knows) with its brackets balanced. A formula in the image size
(``NF·W·H``) is evaluated at W = H = 32 (or 64), the way the question fixes the input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

import sympy

from ..parse import (
    LATEX_COMMANDS,
    AnswerParseError,
    canonical_variable,
    parse_answer,
    parse_factor,
)

__all__ = ["FormulaError", "FormulaReading", "factor_text", "formula_span", "mentions_doubling",
           "mentions_original", "read_factor", "read_formula", "same_answer", "without_formulas"]

_TOKEN = re.compile(
    r"(?P<ws>\s+)"
    r"|(?P<dollar>\$+)"
    r"|(?P<cmd>\\[A-Za-z]+|\\[,;:! ]|\\[{}()\[\]])"
    r"|(?P<num>\d{1,3}(?:,\d{3})+(?!\d)|\d+(?:\.\d+)?)"
    r"|(?P<sup>[⁰¹²³⁴⁵⁶⁷⁸⁹]+)"
    r"|(?P<word>[A-Za-z]+(?:_(?:\{[^{}]*\}|[A-Za-z0-9]+)[A-Za-z]*)*)"
    r"|(?P<op>[-+−–*/^×·⋅∙•∗÷=≈()\[\]{}])"
    r"|(?P<other>.)",
    re.DOTALL,
)
_OPENERS = {"(": ")", "[": "]", "{": "}"}
_SIZE_WORDS = {"w", "h", "hw", "wh"}
_GLUE_PIECES = ("nic", "cin", "nf", "nc", "k")


class FormulaError(ValueError):
    """A formula was found but cannot be read; the message says why."""


def _is_variable(word: str) -> bool:
    if canonical_variable(word) is not None:
        return True
    rest = re.sub(r"[_{}\\]", "", word).lower()
    while rest:  # glued names: NCNF, kNF, N_FN_C
        piece = next((p for p in _GLUE_PIECES if rest.startswith(p)), None)
        if piece is None:
            return False
        rest = rest[len(piece):]
    return True


@dataclass(frozen=True)
class _Tok:
    kind: str  # neutral | var | size | num | op | open | close | break
    text: str
    start: int
    end: int


def _classify(m: re.Match[str]) -> str:
    kind = m.lastgroup or "other"
    text = m.group(0)
    if kind in ("ws", "dollar"):
        return "neutral"
    if kind == "cmd":
        name = text[1:]
        if name in ("left", "right", "big", "Big", "bigl", "bigr", "Bigl", "Bigr"):
            return "neutral"
        return "op" if name in LATEX_COMMANDS or not name.isalpha() else "break"
    if kind in ("num", "sup"):
        return "num"
    if kind == "word":
        if text in ("x", "X"):
            return "op"
        if text.lower() in _SIZE_WORDS or re.fullmatch(r"[WH]_\{?(?:in|out|0|1)\}?", text):
            return "size"
        return "var" if _is_variable(text) else "break"
    if kind == "op":
        return "open" if text in _OPENERS else "close" if text in ")]}" else "op"
    return "break"


def _runs(text: str) -> list[list[_Tok]]:
    runs: list[list[_Tok]] = [[]]
    for m in _TOKEN.finditer(text):
        kind = _classify(m)
        if kind == "break":
            runs.append([])
        else:
            runs[-1].append(_Tok(kind, m.group(0), m.start(), m.end()))
    return [r for r in runs if r]


def _trim(run: list[_Tok]) -> list[_Tok]:
    """Balanced brackets, no dangling operator or space at either end."""
    stack: list[int] = []
    start = 0
    for i, tok in enumerate(run):
        if tok.kind == "open":
            stack.append(i)
        elif tok.kind == "close":
            if stack:
                stack.pop()
            elif not stack:
                start = i + 1  # a closer with no opener: the formula starts after it
    run = run[start:]
    depth, cut = 0, None
    openings: list[int] = []
    for i, tok in enumerate(run):
        if tok.kind == "open":
            openings.append(i)
            depth += 1
        elif tok.kind == "close" and openings:
            openings.pop()
    if openings:
        cut = openings[0]
        run = run[:cut]
    while run and (run[-1].kind in ("neutral", "open") or
                   (run[-1].kind == "op" and run[-1].text not in ("\\right",))):
        run = run[:-1]
    while run and (run[0].kind == "neutral" or
                   (run[0].kind == "op" and run[0].text not in ("-", "−", "+", "\\frac",
                                                               "\\dfrac", "\\tfrac"))):
        run = run[1:]
    return run


def _qualifies(run: list[_Tok]) -> tuple[bool, bool]:
    """(holds a variable, holds a number of 3 or more digits)."""
    has_var = any(t.kind in ("var", "size") for t in run)
    big = any(t.kind == "num" and len(re.sub(r"\D", "", t.text)) >= 3 for t in run)
    return has_var, big


def _spans(text: str) -> list[tuple[int, int, bool]]:
    found = []
    for run in _runs(text):
        run = _trim(run)
        if not run:
            continue
        has_var, big = _qualifies(run)
        if has_var or big:
            found.append((run[0].start, run[-1].end, has_var))
    return found


def formula_span(text: str) -> str | None:
    """The formula a sentence holds: the first run with a variable, else one big number."""
    spans = _spans(text)
    for start, end, has_var in spans:
        if has_var:
            return text[start:end]
    return text[spans[0][0]:spans[0][1]] if spans else None


def without_formulas(text: str) -> str:
    """The sentence with its formulas cut out (so ``3*3*NF`` is not read as "×3")."""
    out, last = [], 0
    for start, end, _ in _spans(text):
        out.append(text[last:start])
        out.append(" ")
        last = end
    out.append(text[last:])
    return re.sub(r"\$+", " ", "".join(out))


_SIZE_TOKEN = re.compile(
    r"(?<![A-Za-z\\])(?:HW|WH|[HW](?:_\{?(?:in|out|0|1)\}?)?)(?![A-Za-z])")
_SMALL_SIZE_TOKEN = re.compile(r"(?<![A-Za-z\\])(?:hw|wh|[hw])(?![A-Za-z])")


def _substitute_size(text: str, size: int) -> str | None:
    """``NF·W·H`` at W = H = size; None when the text names no image size."""
    def swap(m: re.Match[str]) -> str:
        return f"({size}*{size})" if len(m.group(0)) == 2 else f"({size})"

    out, n = _SIZE_TOKEN.subn(swap, text)
    low = set(_SMALL_SIZE_TOKEN.findall(out))
    if {"h", "w"} <= low or low & {"hw", "wh"}:  # lower case only when both are there
        out, m = _SMALL_SIZE_TOKEN.subn(swap, out)
        n += m
    return out if n else None


@dataclass(frozen=True)
class FormulaReading:
    """A formula found in a text: what the checker gets, and what the student wrote."""

    text: str  # judged: as written, or a formula in W, H evaluated at one input size
    written: str
    sized: bool  # written in the image size W, H


def _as_text(expr: sympy.Expr) -> str:
    return str(sympy.expand(expr)).replace("**", "^")


# "NF 2 +" is what a text layer makes of NF² (the exponent dropped onto the line): read as
# 2·NF it would be judged wrong, so it is sent to a TA instead
_FLAT_EXPONENT = re.compile(
    r"(?:(?<![A-Za-z])(?:N_?\{?(?:F|C|IC)\}?|k)|\))\s+[23](?![\d.])\s*(?:[-+−)=,]|$)")


def read_formula(value: str, size: int = 32) -> FormulaReading | None:
    """The formula in ``value``; None when there is none; FormulaError when it cannot be read."""
    span = formula_span(value)
    if span is None:
        return None
    flat = _FLAT_EXPONENT.search(span)
    if flat:
        raise FormulaError(f"{flat.group(0).strip()!r} looks like an exponent that lost its "
                           "place (NF² written as 'NF 2')")
    try:
        parse_answer(span)
        return FormulaReading(span, span, False)
    except AnswerParseError as exc:
        error = exc
    sized = _substitute_size(span, size)
    if sized is not None:
        try:
            return FormulaReading(_as_text(parse_answer(sized)), span, True)
        except AnswerParseError:
            pass
    raise FormulaError(error.message)


_NUMBER_WORDS = {"zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "eight": "8",
                 "sixteen": "16"}
_GROWS_BY = re.compile(
    r"\b(?:multipl\w*|scal\w*(?:\s+up)?|increas\w*|grow\w*|go(?:es)?\s+up|bigger|larger)"
    r"\s+(?:by\s+)?(?:a\s+factor\s+of\s+)?(\d+)\b(?!\s*(?:times|x|×))", re.IGNORECASE)
_TRIGGER = re.compile(
    r"(?:\b(?:when|if|once|after|as)\s+)?(?:\b(?:the|each|both|all)\s+)?"
    r"(?:\b(?:input|image|picture|width|height|dimension|size|resolution|spatial)\w*"
    r"|(?-i:\b[WH]\b))"
    r"[\w\s/(),]{0,60}?\b(?:is|are|gets?|being|were|was|be)?\s*doubled\b"
    r"|\bdoubling\s+(?:the\s+|each\s+|both\s+)?(?:input|image|width|height|dimension|size|"
    r"resolution)\w*(?:\s+(?:and|/)\s+\w+)?"
    r"|\b(?:when|if|once)\s+(?:it\s+is\s+|they\s+are\s+)?doubled\b"
    r"|\b64\s*(?:x|×|\*|by)\s*64\b|\(\s*doubled\s*\)"
    r"|^\W*doubled?\s*(?:input|image)?\s*[:\-–]"  # "Doubled: weights unchanged, ..."
    r"|\bdoubl\w*\s+(?:input|image|size|resolution|dimension|width|height|case)\w*"
    r"|\b(?:for|with|in|at|under)\s+(?:the\s+|a\s+)?doubl\w*",
    re.IGNORECASE,
)
_DOUBLING = re.compile(r"\bdoubl\w*|\b64\s*(?:x|×|\*|by|\\times)\s*64\b|\btwice\b|\b2\s*[WH]\b",
                       re.IGNORECASE)
_ORIGINAL = re.compile(r"\b32\s*(?:x|×|\*|by|\\times)\s*32\b|\boriginal\b|\binitial\b",
                       re.IGNORECASE)
# "when each input dimension is not doubled": about the original input, though it says "doubled"
_NOT_DOUBLED = re.compile(r"\b(?:not|isn['’]t|aren['’]t|never)\s+(?:been\s+)?doubled\b|"
                         r"\b(?:before|without)\s+doubling\b", re.IGNORECASE)


def mentions_doubling(text: str) -> bool:
    return bool(_DOUBLING.search(text)) and not _NOT_DOUBLED.search(text)


def mentions_original(text: str) -> bool:
    return bool(_NOT_DOUBLED.search(text)) or (bool(_ORIGINAL.search(text))
                                               and not _TRIGGER.search(text))


def read_factor(text: str) -> Fraction | None:
    """"×4", "4 times", "quadruples", "unchanged", "multiplied by four" -> the factor.

    The words that say the *input* is doubled are removed first: "the weights stay the same
    when the input is doubled" is a factor of 1, not 2.
    """
    low = without_formulas(text)
    low = re.sub(r"\b(" + "|".join(_NUMBER_WORDS) + r")\b",
                 lambda m: _NUMBER_WORDS[m.group(1).lower()], low, flags=re.IGNORECASE)
    low = _TRIGGER.sub(" ", low)
    low = _GROWS_BY.sub(lambda m: f" ×{m.group(1)} ", low)
    return parse_factor(low)


def factor_text(factor: Fraction) -> str:
    return "unchanged" if factor == 1 else f"×{factor}"


def same_answer(a: str, b: str) -> bool:
    """Two judged texts that say the same thing (equal formulas, equal factors)."""
    if a == b:
        return True
    try:
        return sympy.expand(parse_answer(a) - parse_answer(b)) == 0
    except (AnswerParseError, TypeError):
        return False

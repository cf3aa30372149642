"""Text normalisation shared by every source: what a PDF, a converter or a student's editor adds.

Why each rule exists:

* Word and some PDF producers write math in Unicode's mathematical alphanumerics (``𝑁𝐹``) and
  typeset ligatures (``ﬁ``); folding them gives the ASCII the formula parser knows. Superscript
  digits (``²``) are kept: they are exponents.
* LaTeX math italic often comes out of a PDF as ``N F`` or ``N IC`` (a space between glyphs);
  nobody writes "N F" in prose, so those are joined back into one variable name.
* An underscore typed in text mode comes out of a PDF's text layer as a subscript of the next
  letter (``output_{p}adding``); inside a word it is joined back (``output_padding``).
* Markdown emphasis, list bullets and LaTeX layout commands carry no answer and would hide a
  label (``**Weights:**``, ``\\item \\textbf{Outputs}:``) from the readers.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["fold", "join_subscripted_words", "strip_markup", "strip_latex_layout",
           "word_count"]

_LETTERLIKE = {"ℎ": "h", "ℓ": "l", "\u00a0": " ", "\u2009": " ", "\u202f": " ", "\u200b": ""}
_SPLIT_NAMES = re.compile(r"(?<![A-Za-z])N\s+(IC|F|C)(?![A-Za-z])")
_SUBSCRIPTED_WORD = re.compile(r"(?<=[a-z])_\{([a-z])\}(?=[a-z])")


def _fold_char(ch: str) -> str:
    code = ord(ch)
    if 0x1D400 <= code <= 0x1D7FF or 0xFB00 <= code <= 0xFB06:  # math alphanumerics, ligatures
        return unicodedata.normalize("NFKC", ch)
    return _LETTERLIKE.get(ch, ch)


def fold(text: str) -> str:
    """Unicode math letters and ligatures to ASCII, ``N F`` to ``NF``; exponents untouched."""
    if any(ord(ch) > 0x7F for ch in text):
        text = "".join(_fold_char(ch) for ch in text)
    return _SPLIT_NAMES.sub(r"N\1", join_subscripted_words(text))


def join_subscripted_words(text: str) -> str:
    """``output_{p}adding`` (an underscore typeset as a subscript) to ``output_padding``."""
    return _SUBSCRIPTED_WORD.sub(r"_\1", text)


_BULLET = re.compile(r"^\s*(?:[-*+•◦▪●]|\d+[.)](?=\s))\s+")
_QUOTE = re.compile(r"^\s*>+\s?")
_EMPHASIS = re.compile(r"(\*\*|__)(.+?)\1")
_HTML = re.compile(r"</?(?:br|p|div|span|b|strong|i|em|sup|sub|u)\b[^>]*>", re.IGNORECASE)
_SUP_TAG = re.compile(r"<sup>(.*?)</sup>", re.IGNORECASE)
_SUB_TAG = re.compile(r"<sub>(.*?)</sub>", re.IGNORECASE)


def strip_markup(text: str, *, keep_bullets: bool = False) -> str:
    """Markdown/HTML emphasis, quotes and (unless kept) bullets off one line of text."""
    text = _SUP_TAG.sub(r"^{\1}", text)
    text = _SUB_TAG.sub(r"_{\1}", text)
    text = _HTML.sub(" ", text)
    text = _QUOTE.sub("", text)
    if not keep_bullets:
        text = re.sub(r"^\s*[-*+•◦▪●]\s+", "", text)
    previous = None
    while previous != text:
        previous = text
        text = _EMPHASIS.sub(r"\2", text)
    return text.strip()


_LATEX_WRAPPERS = re.compile(
    r"\\(?:textbf|textit|emph|underline|textsc|texttt|mbox|hbox)\s*\{([^{}]*)\}")
_LATEX_DROP = re.compile(
    r"\\(?:item|noindent|newline|hline|toprule|midrule|bottomrule|centering|medskip|smallskip|"
    r"bigskip|vspace\*?\{[^}]*\}|hspace\*?\{[^}]*\}|par|clearpage|newpage|maketitle)\b(?:\[[^\]]*\])?")
_LATEX_ENV = re.compile(r"\\(?:begin|end)\{[^}]*\}(?:\{[^}]*\}|\[[^\]]*\])*")


def strip_latex_layout(text: str) -> str:
    """LaTeX text-mode layout (``\\item``, ``\\textbf{..}``, ``\\\\``, environments) off a line."""
    previous = None
    while previous != text:
        previous = text
        text = _LATEX_WRAPPERS.sub(r"\1", text)
    text = _LATEX_ENV.sub(" ", text)
    text = _LATEX_DROP.sub(" ", text)
    text = re.sub(r"\\\\(?:\[[^\]]*\])?\s*$", "", text.rstrip())
    text = re.sub(r"(?<!\\)%.*$", "", text)  # a comment
    return text.strip()


def word_count(text: str) -> int:
    return len(re.findall(r"[A-Za-z]{2,}", text))

"""Turn a student's written formula (LaTeX or plain text) into a sympy expression.

sympy's own ``parse_latex`` is not usable here: it needs antlr4-python3-runtime 4.11 exactly, and
it reads ``NF`` as ``N*F``. So a small lexer walks the *original* text (keeping character spans
for error messages), maps every spelling of the four variables to one symbol, and emits a
whitelisted sympy-syntax string that ``parse_expr`` turns into an expression with implicit
multiplication. Nothing the student wrote reaches ``parse_expr`` except numbers, the four
variable names, operators and brackets.

Accepted variable spellings (case-insensitive, underscores and LaTeX subscripts ignored):

* ``NIC``: NIC, N_IC, N_{IC}, n_ic, C_in, C_{\\text{in}}, N_in, num_in_channels, in_channels
* ``NF``:  NF, N_F, N_{F}, n_f, num_filters
* ``NC``:  NC, N_C, N_{C}, n_c, num_colours, num_colors
* ``k``:   k, K, kernel, kernel_size

Glued names are split greedily (``NCNF``, ``kNF``, ``N_FN_C``). A name immediately followed by a
digit (``NF2``) is rejected as ambiguous.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

import sympy
from sympy.parsing.sympy_parser import (
    implicit_multiplication,
    parse_expr,
    rationalize,
    standard_transformations,
)

__all__ = [
    "AnswerParseError",
    "canonical_variable",
    "SYMBOLS",
    "NIC",
    "NF",
    "NC",
    "K",
    "LATEX_COMMANDS",
    "parse_answer",
    "parse_factor",
    "restore_escapes",
]

NIC, NF, NC, K = (sympy.Symbol(n, positive=True, integer=True) for n in ("NIC", "NF", "NC", "k"))
SYMBOLS: dict[str, sympy.Symbol] = {"NIC": NIC, "NF": NF, "NC": NC, "k": K}

# canonical spelling (lower case, no underscores/braces) -> symbol name
_NAMES: dict[str, str] = {
    "nic": "NIC", "nin": "NIC", "cin": "NIC", "ninchannels": "NIC", "numinchannels": "NIC",
    "inchannels": "NIC", "numinputchannels": "NIC",
    "nf": "NF", "numfilters": "NF", "nfilters": "NF",
    "nc": "NC", "numcolours": "NC", "numcolors": "NC", "ncolours": "NC", "ncolors": "NC",
    "k": "k", "kernel": "k", "kernelsize": "k",
}
# pieces a glued name may be split into, longest first
_PIECES = ("nic", "cin", "nf", "nc", "k")



def canonical_variable(raw: str) -> str | None:
    """``n_f`` -> ``NF``, ``K`` -> ``k``, ``C_in`` -> ``NIC``; None for anything else."""
    return _NAMES.get(re.sub(r"[_{}\s\\]", "", raw).lower())


_TIMES_CMDS = {"times", "cdot", "ast", "cross", "bullet", "cdotp"}
_IGNORED_CMDS = {
    "left", "right", "big", "Big", "bigg", "Bigg", "bigl", "bigr", "Bigl", "Bigr", "biggl",
    "biggr", "displaystyle", "textstyle", "quad", "qquad", "nonumber", "limits", "mathbin",
    "mathord", "mathrel",
}
_TEXT_CMDS = {
    "text", "textrm", "textit", "textbf", "texttt", "textsf", "mathrm", "mathit", "mathbf",
    "mathsf", "mathtt", "mathnormal", "operatorname", "boldsymbol", "bm", "mbox",
}
_FRAC_CMDS = {"frac", "dfrac", "tfrac", "cfrac"}
_EQ_CMDS = {"approx", "equiv", "simeq", "sim", "eq"}
_SPACE_CMDS = {",", ";", ":", "!", " ", "\n", "\t"}
_KNOWN_CMDS = _TIMES_CMDS | _IGNORED_CMDS | _TEXT_CMDS | _FRAC_CMDS | _EQ_CMDS | {"div"}
LATEX_COMMANDS: frozenset[str] = frozenset(_KNOWN_CMDS)  # what a formula may contain

_TIMES_CHARS = "×·⋅∙•✕∗"
_MINUS_CHARS = "-−–—"
_SUPERSCRIPTS = {"⁰": "0", "¹": "1", "²": "2", "³": "3", "⁴": "4", "⁵": "5", "⁶": "6",
                 "⁷": "7", "⁸": "8", "⁹": "9"}

_DIGITS = "0123456789"
_NUMBER = re.compile(
    r"[0-9]{1,3}(?:(?:,|\{,\}|\\,)[0-9]{3})+(?![0-9])|[0-9]+(?:\.[0-9]+)?|\.[0-9]+"
)
_LETTERS = re.compile(r"[A-Za-z]+")
_SUB_RUN = re.compile(r"[A-Za-z0-9]+")
_SUB_CMD = re.compile(r"\\([A-Za-z]+)\s*\{")


class AnswerParseError(ValueError):
    """An answer that cannot be read, with the offending span of the original text."""

    def __init__(self, message: str, text: str, start: int = 0, end: int | None = None) -> None:
        self.message = message
        self.text = text
        self.start = max(0, min(start, len(text)))
        self.end = max(self.start + 1, end if end is not None else self.start + 1)
        super().__init__(str(self))

    def pointer(self) -> str:
        """The text on one line with carets under the offending part."""
        line = re.sub(r"\s", " ", self.text)
        width = min(self.end, len(line) + 1) - self.start
        return f"{line}\n{' ' * self.start}{'^' * max(1, width)}"

    def __str__(self) -> str:
        return f"{self.message}\n{self.pointer()}"


@dataclass
class _Tok:
    kind: str  # num, name, op, lp, rp, lbrace, rbrace, frac, eq, unknown
    value: str
    start: int
    end: int


# YAML/JSON double-quoted strings turn "\times" into TAB + "imes", "\frac" into FF + "rac", ...
_ESCAPES = {"\t": "t", "\x0c": "f", "\r": "r", "\x07": "a", "\x08": "b", "\x0b": "v", "\n": "n"}


def restore_escapes(text: str) -> str:
    """Undo string escapes that swallowed a LaTeX command's backslash (``"\\times"`` in YAML)."""

    def fix(match: re.Match[str]) -> str:
        word = _ESCAPES[match.group(1)] + match.group(2)
        return "\\" + word if word in _KNOWN_CMDS else match.group(0)

    return re.sub(r"([\t\x0c\r\x07\x08\x0b\n])([A-Za-z]+)", fix, text)


def _brace_group(text: str, i: int) -> int:
    """Index just after the ``}`` matching the ``{`` at ``text[i]``."""
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "{" and (j == 0 or text[j - 1] != "\\"):
            depth += 1
        elif text[j] == "}" and text[j - 1] != "\\":
            depth -= 1
            if depth == 0:
                return j + 1
    raise AnswerParseError("unmatched '{'", text, i)


def _plain_name(group: str) -> str:
    """Letters and digits of a subscript/``\\text`` group, with LaTeX markup dropped."""
    group = re.sub(r"\\(" + "|".join(sorted(_TEXT_CMDS)) + r")\b", "", group)
    group = group.replace("\\_", "_")
    return re.sub(r"[{}\s_]", "", group)


def _resolve_name(raw: str, text: str, start: int, end: int) -> list[str]:
    """Map one written name to symbol names, splitting glued names like ``NCNF``."""
    key = re.sub(r"[_{}\s\\]", "", raw).lower()
    if key in _NAMES:
        return [_NAMES[key]]
    out: list[str] = []
    rest = key
    while rest:
        piece = next((p for p in _PIECES if rest.startswith(p)), None)
        if piece is None:
            break
        out.append(_NAMES[piece])
        rest = rest[len(piece):]
    if rest or not out:
        raise AnswerParseError(
            f"unknown name {raw!r}: write the formula in NIC, NF, NC and k", text, start, end
        )
    return out


def _lex(text: str, base: int = 0, full: str | None = None) -> list[_Tok]:
    """Tokens of ``text``; spans are offsets into ``full`` (the whole answer)."""
    full = text if full is None else full
    toks: list[_Tok] = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        at = base + i
        if c.isspace() or c in "$~&":
            i += 1
        elif c == "\\":
            if i + 1 < n and text[i + 1] in "{}":
                toks.append(_Tok("lp" if text[i + 1] == "{" else "rp", text[i + 1], at, at + 2))
                i += 2
                continue
            if i + 1 < n and (text[i + 1] in _SPACE_CMDS or text[i + 1] in "()[]\\"):
                i += 2
                continue
            m = _LETTERS.match(text, i + 1)
            if not m:
                raise AnswerParseError("stray backslash", full, at)
            cmd = m.group(0)
            j = m.end()
            if cmd in _TIMES_CMDS:
                toks.append(_Tok("op", "*", at, base + j))
            elif cmd == "div":
                toks.append(_Tok("op", "/", at, base + j))
            elif cmd in _IGNORED_CMDS:
                if cmd in ("left", "right") and j < n and text[j] == ".":
                    j += 1  # \left. / \right. (invisible delimiter)
            elif cmd in _FRAC_CMDS:
                toks.append(_Tok("frac", cmd, at, base + j))
            elif cmd in _EQ_CMDS:
                toks.append(_Tok("eq", cmd, at, base + j))
            elif cmd in _TEXT_CMDS:
                while j < n and text[j] == " ":
                    j += 1
                if j >= n or text[j] != "{":
                    raise AnswerParseError(f"\\{cmd} needs a {{...}} argument", full, at, base + j)
                close = _brace_group(text, j)
                inner = text[j + 1 : close - 1].replace("\\_", "_")
                toks.extend(_lex(inner, base + j + 1, full))
                j = close
            else:
                raise AnswerParseError(f"unsupported LaTeX command \\{cmd}", full, at, base + j)
            i = j
        elif c in "([":
            toks.append(_Tok("lp", c, at, at + 1))
            i += 1
        elif c in ")]":
            toks.append(_Tok("rp", c, at, at + 1))
            i += 1
        elif c == "{":
            toks.append(_Tok("lbrace", c, at, at + 1))
            i += 1
        elif c == "}":
            toks.append(_Tok("rbrace", c, at, at + 1))
            i += 1
        elif c == "^":
            toks.append(_Tok("op", "**", at, at + 1))
            i += 1
        elif text.startswith("**", i):
            toks.append(_Tok("op", "**", at, at + 2))
            i += 2
        elif c == "*" or c in _TIMES_CHARS:
            toks.append(_Tok("op", "*", at, at + 1))
            i += 1
        elif c in "/÷":
            toks.append(_Tok("op", "/", at, at + 1))
            i += 1
        elif c == "+":
            toks.append(_Tok("op", "+", at, at + 1))
            i += 1
        elif c in _MINUS_CHARS:
            toks.append(_Tok("op", "-", at, at + 1))
            i += 1
        elif c in "=≈":
            toks.append(_Tok("eq", c, at, at + 1))
            i += 1
        elif c in _SUPERSCRIPTS:
            j = i
            while j < n and text[j] in _SUPERSCRIPTS:
                j += 1
            digits = "".join(_SUPERSCRIPTS[ch] for ch in text[i:j])
            toks.append(_Tok("op", "**", at, at))
            toks.append(_Tok("num", digits, at, base + j))
            i = j
        elif c in _DIGITS or (c == "." and i + 1 < n and text[i + 1] in _DIGITS):
            m = _NUMBER.match(text, i)
            assert m is not None
            value = re.sub(r"\{,\}|\\,|,", "", m.group(0))
            toks.append(_Tok("num", value, at, base + m.end()))
            i = m.end()
        elif c.isalpha() and c.isascii():
            j = _LETTERS.match(text, i).end()  # type: ignore[union-attr]
            raw = text[i:j]
            while j < n and text[j] == "_":
                if j + 1 < n and text[j + 1] == "{":
                    close = _brace_group(text, j + 1)
                    raw += "_" + _plain_name(text[j + 2 : close - 1])
                    j = close
                elif (m := _SUB_RUN.match(text, j + 1)) is not None:
                    raw += "_" + m.group(0)
                    j = m.end()
                elif (m := _SUB_CMD.match(text, j + 1)) is not None \
                        and m.group(1) in _TEXT_CMDS:  # N_\mathrm{F}
                    close = _brace_group(text, m.end() - 1)
                    raw += "_" + _plain_name(text[m.end() : close - 1])
                    j = close
                else:
                    break
                if (m := _LETTERS.match(text, j)) is not None:
                    raw += m.group(0)
                    j = m.end()
            if raw.lower() == "x":  # "2 x NF": x as a multiplication sign
                toks.append(_Tok("op", "*", at, base + j))
                i = j
                continue
            if j < n and text[j] in _DIGITS and "_" not in raw:
                m = re.compile(r"\d+").match(text, j)
                end = m.end() if m else j + 1
                raise AnswerParseError(
                    f"ambiguous {text[i:end]!r}: write {raw}^{text[j:end]} or "
                    f"{text[j:end]}·{raw}",
                    full, at, base + end,
                )
            toks.append(_Tok("name", raw, at, base + j))
            i = j
        else:
            raise AnswerParseError(f"unexpected character {c!r}", full, at)
    return toks


def _check_brackets(toks: list[_Tok], text: str) -> None:
    pairs = {"(": ")", "[": "]", "{": "}"}
    stack: list[_Tok] = []
    for t in toks:
        if t.kind in ("lp", "lbrace"):
            stack.append(t)
            if len(stack) > MAX_DEPTH:
                raise AnswerParseError("brackets nested too deeply", text, t.start)
        elif t.kind in ("rp", "rbrace"):
            if not stack:
                raise AnswerParseError(f"unmatched {t.value!r}", text, t.start, t.end)
            opener = stack.pop()
            if pairs[opener.value] != t.value:
                raise AnswerParseError(
                    f"{opener.value!r} closed by {t.value!r}", text, opener.start, t.end
                )
    if stack:
        raise AnswerParseError(f"unclosed {stack[-1].value!r}", text, stack[-1].start)


def _emit(toks: list[_Tok], text: str) -> list[tuple[str, _Tok]]:
    """Flatten to (sympy-syntax piece, source token), expanding ``\\frac{a}{b}``."""
    out: list[tuple[str, _Tok]] = []
    i = 0

    def group(j: int, frac: _Tok) -> tuple[list[_Tok], int]:
        if j >= len(toks):
            raise AnswerParseError("\\frac needs two arguments", text, frac.start, frac.end)
        t = toks[j]
        if t.kind == "lbrace":
            depth = 0
            for m in range(j, len(toks)):
                depth += toks[m].kind == "lbrace"
                depth -= toks[m].kind == "rbrace"
                if depth == 0:
                    return toks[j + 1 : m], m + 1
        if t.kind in ("num", "name"):
            return [t], j + 1
        raise AnswerParseError("\\frac needs two {...} arguments", text, frac.start, t.end)

    while i < len(toks):
        t = toks[i]
        if t.kind == "frac":
            # "\frac12" means 1/2: split a bare multi-digit first argument
            nxt = toks[i + 1] if i + 1 < len(toks) else None
            bare = nxt is not None and nxt.kind == "num" and "." not in nxt.value
            if bare and nxt is not None and len(nxt.value) > 1:
                num = _Tok("num", nxt.value[0], nxt.start, nxt.start + 1)
                den = _Tok("num", nxt.value[1:], nxt.start + 1, nxt.end)
                top, bottom, i = [num], [den], i + 2
            else:
                top, j = group(i + 1, t)
                bottom, i = group(j, t)
            if not top or not bottom:
                raise AnswerParseError("empty \\frac argument", text, t.start, t.end)
            out.append(("((", t))
            out.extend(_emit(top, text))
            out.append((")/(", t))
            out.extend(_emit(bottom, text))
            out.append(("))", t))
            continue
        if t.kind in ("lp", "lbrace"):
            out.append(("(", t))
        elif t.kind in ("rp", "rbrace"):
            out.append((")", t))
        elif t.kind == "name":
            names = _resolve_name(t.value, text, t.start, t.end)
            out.append((" ".join(names), t))
        else:
            out.append((t.value, t))
        i += 1
    return out


def _check_grammar(pieces: list[tuple[str, _Tok]], text: str) -> None:
    """Catch dangling operators before sympy does, so the message can point at them."""
    prev: str | None = None  # "operand", "op", "open" or None at the start
    prev_tok: _Tok | None = None
    for piece, tok in pieces:
        if tok.kind == "num" and prev_tok is not None and prev_tok.kind == "num":
            raise AnswerParseError(
                f"two numbers in a row ({prev_tok.value} {tok.value}): join them or put an "
                "explicit × between them", text, prev_tok.start, tok.end,
            )
        kind = "op" if tok.kind == "op" else "operand"
        if piece in ("(", "(("):
            kind = "open"
        elif piece in (")", "))"):
            kind = "close"
        elif piece == ")/(":
            kind = "open"
            if prev in ("op", "open"):
                culprit = prev_tok or tok
                raise AnswerParseError("empty or unfinished \\frac numerator", text,
                                       culprit.start, tok.end)
        if kind == "op":
            unary = piece in ("+", "-")
            if prev in (None, "open", "op") and not unary:
                raise AnswerParseError(
                    f"{_shown(tok)!r} has nothing on its left", text, tok.start, tok.end
                )
        if kind == "close" and prev in ("op", "open"):
            culprit = prev_tok or tok
            if prev == "op":
                raise AnswerParseError(
                    f"expected a term after {_shown(culprit)!r}", text, culprit.start, culprit.end
                )
            raise AnswerParseError("empty brackets", text, culprit.start, tok.end)
        prev, prev_tok = ("operand" if kind == "close" else kind), tok
    if prev == "op" and prev_tok is not None:
        raise AnswerParseError(
            f"expected a term after {_shown(prev_tok)!r}", text, prev_tok.start, prev_tok.end
        )


MAX_EXPONENT = 10
MAX_LENGTH = 2000
MAX_DEPTH = 30


def _check_exponents(toks: list[_Tok], text: str) -> None:
    """Only small whole-number exponents: ``k^2``, ``NF^{2}``. Anything else (``2^(2^(2^9))``,
    ``(NF+NC)^999``) could make sympy run for ever, and no count needs it."""
    for i, tok in enumerate(toks):
        if tok.kind != "op" or tok.value != "**":
            continue
        rest = toks[i + 1 : i + 4]
        if not rest or rest[0].kind in ("rp", "rbrace", "op"):
            continue  # nothing after '^': the grammar check reports it
        value: _Tok | None = None
        if rest and rest[0].kind == "num":
            value = rest[0]
        elif (len(rest) == 3 and rest[0].kind in ("lp", "lbrace") and rest[1].kind == "num"
              and rest[2].kind in ("rp", "rbrace")):
            value = rest[1]
        if value is None or "." in value.value or int(value.value) > MAX_EXPONENT:
            end = value.end if value is not None else (rest[0].end if rest else tok.end)
            raise AnswerParseError(
                f"exponents must be whole numbers from 0 to {MAX_EXPONENT}", text, tok.start, end
            )


def _shown(tok: _Tok) -> str:
    return {"**": "^"}.get(tok.value, tok.value)


_TRANSFORMS = standard_transformations + (implicit_multiplication, rationalize)
_GLOBALS = {
    "Integer": sympy.Integer, "Rational": sympy.Rational, "Float": sympy.Float,
    "Symbol": sympy.Symbol, "__builtins__": {},
}


def parse_answer(text: str) -> sympy.Expr:
    """Parse one written answer into a sympy expression in NIC, NF, NC and k.

    ``W = k^2 (...) = 9NF + ...`` is accepted: the last part containing a variable is used.
    Raises AnswerParseError with the offending span on anything it cannot read.
    """
    text = restore_escapes(text)
    if not text.strip() or not text.strip(" $\t\n"):
        raise AnswerParseError("empty answer", text, 0)
    if len(text) > MAX_LENGTH:
        raise AnswerParseError(f"answer longer than {MAX_LENGTH} characters", text[:80], 0, 80)
    toks = _lex(text)
    parts: list[list[_Tok]] = [[]]
    for t in toks:
        if t.kind == "eq":
            parts.append([])
        else:
            parts[-1].append(t)
    parts = [p for p in parts if p]
    if not parts:
        raise AnswerParseError("no formula found", text, 0, len(text))
    chosen = parts[-1]
    if len(parts) > 1:
        # drop a left-hand side such as "W" or "#weights"; prefer the last part with variables
        def has_var(part: list[_Tok]) -> bool:
            try:
                return any(t.kind == "name" and _resolve_name(t.value, text, 0, 0) for t in part)
            except AnswerParseError:
                return False

        with_vars = [p for p in parts if has_var(p) and _resolvable(p, text)]
        chosen = with_vars[-1] if with_vars else parts[-1]
    _check_brackets(chosen, text)
    _check_exponents(chosen, text)
    pieces = _emit(chosen, text)
    _check_grammar(pieces, text)
    source = " ".join(p for p, _ in pieces)
    try:
        expr = parse_expr(
            source, local_dict=dict(SYMBOLS), global_dict=dict(_GLOBALS),
            transformations=_TRANSFORMS,
        )
    except (SyntaxError, TypeError, ValueError, ZeroDivisionError, RecursionError) as exc:
        raise AnswerParseError(
            f"cannot read the formula ({type(exc).__name__}: read as {source[:80]!r})",
            text, chosen[0].start, chosen[-1].end,
        ) from None
    if not isinstance(expr, sympy.Expr) or expr.has(sympy.zoo, sympy.nan, sympy.oo):
        raise AnswerParseError("the formula is not a finite number", text, 0, len(text))
    return sympy.expand(expr) if expr.free_symbols else expr


def _resolvable(part: list[_Tok], text: str) -> bool:
    try:
        for t in part:
            if t.kind == "name":
                _resolve_name(t.value, text, t.start, t.end)
    except AnswerParseError:
        return False
    return True


_WORD_NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "eight": 8, "sixteen": 16}
_SAME = re.compile(
    r"\b(unchanged|the same|same|no change|not change|doesn'?t change|does not change|"
    r"remains? (?:the same|constant|unchanged)|stays? (?:the same|constant)|constant|"
    r"identical|independent)\b"
)
_TIMES_AFTER = re.compile(r"(?:×|\\times|\*|\bx|times|by a factor of|factor of)\s*(\d+(?:\.\d+)?)")
_TIMES_BEFORE = re.compile(r"(\d+(?:\.\d+)?)\s*(?:×|x\b|\\times|times|-?fold|\*)")
_IMAGE_SIZE = re.compile(r"\b(?:32|64)\s*(?:x|×|\\times|\*)\s*(?:32|64)\b")
_WORD_TIMES = re.compile(r"\b(one|two|three|four|eight|sixteen) times\b|\b(quadrupl|doubl|twice)")


def parse_factor(text: str) -> Fraction | None:
    """Read a 'how does it change when the input is doubled' answer as a factor, if it is one.

    ``unchanged``/``same`` -> 1; ``×4``, ``4x``, ``4 times``, ``quadruples`` -> 4;
    ``doubles``/``twice`` -> 2. Returns None when the text is not such a phrase.
    """
    low = restore_escapes(text).lower().replace("$", " ")
    low = _IMAGE_SIZE.sub(" ", low)  # "64x64" names the input, it is not a factor
    hits = [m for pattern in (_TIMES_AFTER, _TIMES_BEFORE) if (m := pattern.search(low))]
    if hits:
        return Fraction(min(hits, key=lambda m: m.start()).group(1))
    m = _WORD_TIMES.search(low)
    if m:
        if m.group(1):
            return Fraction(_WORD_NUMBERS[m.group(1)])
        return Fraction(4) if m.group(2) == "quadrupl" else Fraction(2)
    if _SAME.search(low):
        return Fraction(1)
    return None

"""Readable formulas for hints: ``k²(NIC·NF + 4NF² + NF·NC + NC²)``, ``8k²·NF²``."""

from __future__ import annotations

import sympy

from .parse import SYMBOLS

__all__ = ["CHANNEL_ORDER", "format_coeff", "format_monomial", "format_term", "format_expr",
           "monomial_terms"]

CHANNEL_ORDER = ("NIC", "NF", "NC")
_SUP = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")
_K = SYMBOLS["k"]


def _power(name: str, exp: int) -> str:
    return name if exp == 1 else name + str(exp).translate(_SUP)


def format_monomial(mono: tuple[int, ...], names: tuple[str, ...]) -> str:
    """``(1, 1, 0)`` over (NIC, NF, NC) -> ``NIC·NF``; the empty monomial -> ``''``."""
    return "·".join(_power(n, e) for n, e in zip(names, mono, strict=True) if e)


def _format_number(value: sympy.Rational) -> str:
    return str(value.p) if value.q == 1 else f"{value.p}/{value.q}"


def format_coeff(coeff: sympy.Expr) -> str:
    """A coefficient that is a number or a polynomial in k: ``8k²``, ``k⁴/16 − 16k³``."""
    coeff = sympy.expand(coeff)
    if coeff.is_Rational:
        return _format_number(sympy.Rational(coeff))
    if not coeff.free_symbols <= {_K}:
        return str(coeff).replace("**", "^").replace("*", "·")
    poly = sympy.Poly(coeff, _K)
    pieces: list[str] = []
    for (exp,), c in sorted(poly.terms(), reverse=True):
        c = sympy.Rational(c)
        sign = "-" if c < 0 else "+"
        mag = abs(c)
        kpart = _power("k", exp) if exp else ""
        if not kpart:
            body = _format_number(mag)
        elif mag.q == 1:
            body = ("" if mag == 1 else str(mag.p)) + kpart
        else:
            body = ("" if mag.p == 1 else str(mag.p)) + kpart + f"/{mag.q}"
        pieces.append((sign, body))  # type: ignore[arg-type]
    text = ""
    for i, (sign, body) in enumerate(pieces):
        if i == 0:
            text = ("−" if sign == "-" else "") + body
        else:
            text += f" {'−' if sign == '-' else '+'} {body}"
    return text


def format_term(coeff: sympy.Expr, mono: tuple[int, ...], names: tuple[str, ...]) -> str:
    """One term of a polynomial in the channel counts: ``640NF²``, ``8k²·NF²``, ``−NC``."""
    m = format_monomial(mono, names)
    coeff = sympy.expand(coeff)
    if not m:
        return format_coeff(coeff)
    if coeff == 1:
        return m
    if coeff == -1:
        return "−" + m
    c = format_coeff(coeff)
    if coeff.is_Rational:
        return c + m if sympy.Rational(coeff).q == 1 else f"{c}·{m}"
    if " " in c:
        return f"({c})·{m}"
    return f"{c}·{m}"


def monomial_terms(expr: sympy.Expr, names: tuple[str, ...]
                   ) -> dict[tuple[int, ...], sympy.Expr] | None:
    """``{exponents: coefficient in k}`` for a polynomial in the channel counts, else None."""
    gens = [SYMBOLS[n] for n in names]
    expr = sympy.expand(expr)
    if not gens:
        return {(): expr}
    try:
        poly = sympy.Poly(expr, *gens)
    except sympy.PolynomialError:
        return None
    terms = {}
    for mono, coeff in poly.terms():
        if any(s not in (_K,) for s in sympy.sympify(coeff).free_symbols):
            return None
        if not sympy.sympify(coeff).is_polynomial(_K):
            return None
        terms[tuple(mono)] = sympy.expand(coeff)
    return terms


def _order(mono: tuple[int, ...]) -> tuple[int, tuple[int, ...]]:
    return (-sum(mono), tuple(-e for e in mono))


def format_expr(expr: sympy.Expr, names: tuple[str, ...] = CHANNEL_ORDER) -> str:
    """A count formula in handout style, pulling out a common power of k."""
    names = tuple(n for n in names if SYMBOLS[n] in expr.free_symbols) or names[:0]
    terms = monomial_terms(expr, names)
    if terms is None:
        return str(expr).replace("**", "^").replace("*", "·")
    terms = {m: c for m, c in terms.items() if c != 0}
    if not terms:
        return "0"
    common = 0
    if len(terms) > 1:
        lows = []
        for c in terms.values():
            if c.is_Rational:
                lows.append(0)
            else:
                lows.append(min(e for (e,), _ in sympy.Poly(c, _K).terms()))
        common = min(lows)
    ordered = sorted(terms, key=_order)
    parts = []
    for mono in ordered:
        coeff = sympy.expand(terms[mono] / _K**common) if common else terms[mono]
        parts.append(format_term(coeff, mono, names))
    body = parts[0]
    for p in parts[1:]:
        body += f" − {p[1:]}" if p.startswith("−") else f" + {p}"
    if common:
        return f"{_power('k', common)}({body})"
    return body

"""Evaluation points, measured counts at them, and the exact formula interpolated from them.

Every count is an integer polynomial of total degree <= 2 in (NIC, NF, NC) at a fixed k (layers
multiply at most two channel counts), and a polynomial in k for the odd kernels that keep the
shapes. So the formula is recovered from measurements on a 3x3x3 grid per kernel, then checked
at an off-grid point and at one more kernel; if a check fails the formula is reported as
unavailable rather than guessed.
"""

from __future__ import annotations

import itertools
from fractions import Fraction
from functools import lru_cache

import numpy as np
import sympy

from .conventions import convention
from .counts import trace
from .parse import SYMBOLS

__all__ = ["CHANNELS", "DEFAULT_POINT", "check_points", "expected_formula", "measured"]

CHANNELS = ("NIC", "NF", "NC")
GRID_LEVELS = (1, 2, 3)
OFF_GRID = {"NIC": 4, "NF": 5, "NC": 6}
K_CHECK = (1, 3, 5, 7)
K_FIT = (1, 3, 5, 7, 9)
K_VERIFY = 11
# the handout's defaults: the values used to read a bare number or show a worked example
DEFAULT_POINT = {"NIC": 1, "NF": 32, "NC": 24, "k": 3}

Given = tuple[tuple[str, int], ...]


def _point(values: dict[str, int], given: dict[str, int]) -> dict[str, int]:
    full = {**values, **given}
    return {name: full[name] for name in ("NIC", "NF", "NC", "k")}


def measured(model: str, quantity: str, conv_id: str, point: dict[str, int], size: int) -> int:
    """The convention's count, measured on the reference model at one point."""
    tr = trace(model, point["NIC"], point["NF"], point["NC"], point["k"], size)
    return convention(quantity, conv_id).count(tr)


def check_points(given: dict[str, int]) -> list[dict[str, int]]:
    """Points where a student's formula must agree with the measured count.

    The full 3-level grid over the free channel counts (enough to pin any degree-2 polynomial)
    at every odd kernel 1..7, plus an off-grid point and the handout's default sizes.
    """
    free = [c for c in CHANNELS if c not in given]
    kernels = (given["k"],) if "k" in given else K_CHECK
    points: list[dict[str, int]] = []
    for k in kernels:
        for levels in itertools.product(GRID_LEVELS, repeat=len(free)):
            points.append(_point({**dict(zip(free, levels, strict=True)), "k": k}, given))
        points.append(_point({**{c: OFF_GRID[c] for c in free}, "k": k}, given))
    points.append(_point(DEFAULT_POINT, given))
    unique = {tuple(sorted(p.items())): p for p in points}
    return list(unique.values())


def _monomials(free: list[str]) -> list[tuple[int, ...]]:
    exps = [e for e in itertools.product(range(3), repeat=len(free)) if sum(e) <= 2]
    return sorted(exps, key=lambda e: (sum(e), e))


@lru_cache(maxsize=512)
def _fit_at_k(model: str, quantity: str, conv_id: str, given: Given, k: int, size: int
              ) -> dict[tuple[int, ...], Fraction] | None:
    fixed = dict(given)
    free = [c for c in CHANNELS if c not in fixed]
    monos = _monomials(free)
    grid = [dict(zip(free, lv, strict=True))
            for lv in itertools.product(GRID_LEVELS, repeat=len(free))]
    rows = grid + [{c: OFF_GRID[c] for c in free}]
    values = [measured(model, quantity, conv_id, _point({**r, "k": k}, fixed), size) for r in rows]
    design = np.array(
        [[np.prod([float(r[v]) ** e for v, e in zip(free, mono, strict=True)]) for mono in monos]
         for r in rows]
    )
    solution, *_ = np.linalg.lstsq(design, np.array(values, dtype=float), rcond=None)
    coeffs = {m: Fraction(float(c)).limit_denominator(16) for m, c in zip(monos, solution,
                                                                           strict=True)}
    for r, value in zip(rows, values, strict=True):
        if _evaluate(coeffs, free, r) != value:
            return None
    return coeffs


def _evaluate(coeffs: dict[tuple[int, ...], Fraction], free: list[str], at: dict[str, int]
              ) -> Fraction:
    total = Fraction(0)
    for mono, c in coeffs.items():
        term = c
        for v, e in zip(free, mono, strict=True):
            term *= at[v] ** e
        total += term
    return total


@lru_cache(maxsize=512)
def _formula(model: str, quantity: str, conv_id: str, given: Given, size: int
             ) -> sympy.Expr | None:
    fixed = dict(given)
    free = [c for c in CHANNELS if c not in fixed]
    kernels = (fixed["k"],) if "k" in fixed else (*K_FIT, K_VERIFY)
    per_k = {k: _fit_at_k(model, quantity, conv_id, given, k, size) for k in kernels}
    if any(v is None for v in per_k.values()):
        return None
    k_sym = SYMBOLS["k"]
    expr = sympy.Integer(0)
    for mono in _monomials(free):
        term = sympy.Mul(*(SYMBOLS[v] ** e for v, e in zip(free, mono, strict=True)))
        if "k" in fixed:
            coeff: sympy.Expr = sympy.Rational(per_k[fixed["k"]][mono])  # type: ignore[index]
        else:
            samples = [(k, sympy.Rational(per_k[k][mono])) for k in K_FIT]  # type: ignore[index]
            coeff = sympy.expand(sympy.interpolate(samples, k_sym))
            if coeff.subs(k_sym, K_VERIFY) != sympy.Rational(per_k[K_VERIFY][mono]):  # type: ignore[index]
                return None
        expr += coeff * term
    return sympy.expand(expr)


def expected_formula(model: str, quantity: str, conv_id: str, given: dict[str, int], size: int
                     ) -> sympy.Expr | None:
    """The convention's count as a polynomial in the free variables, or None if it is not one."""
    return _formula(model, quantity, conv_id, tuple(sorted(given.items())), size)

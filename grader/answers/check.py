"""Judge written answers against counts measured on the reference model.

A formula is correct under a convention when it equals that convention's measured count at
every check point (``fit.check_points``) and, where the exact formula could be interpolated,
symbolically as well. When no convention matches, the answer is compared term by term with the
closest convention's formula so the hint can name the wrong term.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Any

import sympy

from .conventions import CONVENTIONS, MODEL_GIVEN, QUANTITIES, QUESTIONS, Convention, convention
from .counts import CountError
from .fit import CHANNELS, DEFAULT_POINT, check_points, expected_formula, measured
from .padding import PaddingError, read_padding, reference_sizes, run_strided, valid_settings
from .parse import SYMBOLS, AnswerParseError, parse_answer, parse_factor
from .pretty import format_expr, format_term, monomial_terms

__all__ = ["Context", "Verdict", "check_count", "check_padding", "describe_given"]

MAX_TERM_HINTS = 6


@dataclass
class Verdict:
    """The judgement on one answer; ``convention`` is the matched one, or the closest one."""

    key: str
    # correct | partial | incorrect | unparseable | missing | error | review (read from a
    # write-up, but not readable there: a TA decides, see writeup/judge.py)
    status: str
    answer: str | None = None
    parsed: str | None = None
    convention: str | None = None
    convention_label: str | None = None
    matches: list[str] = field(default_factory=list)
    expected: str | None = None
    hints: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Context:
    """What the answers are about: the model, the fixed variables and accepted conventions."""

    model: str
    given: dict[str, int] = field(default_factory=dict)
    accept: dict[str, tuple[str, ...]] = field(default_factory=dict)
    substitutable: dict[str, int] = field(default_factory=dict)  # Question.substitutable

    @classmethod
    def for_model(cls, model: str, question: str | None = None,
                  given: dict[str, int | None] | None = None,
                  accept: dict[str, Iterable[str]] | None = None) -> Context:
        base = dict(QUESTIONS[question].given) if question else dict(MODEL_GIVEN.get(model, {}))
        for name, value in (given or {}).items():
            if value is None:
                base.pop(name, None)
            else:
                base[name] = int(value)
        acc = {q: tuple(ids) for q, ids in (accept or {}).items()}
        for q, ids in acc.items():
            for conv_id in ids:
                convention(q, conv_id)  # raises KeyError on a typo
        substitutable = dict(QUESTIONS[question].substitutable) if question else {}
        return cls(model, base, acc, {n: v for n, v in substitutable.items() if n not in base})

    def conventions(self, quantity: str) -> list[Convention]:
        """The accepted conventions: ``accept:`` if given, else every default one."""
        allowed = self.accept.get(quantity)
        return [c for c in CONVENTIONS[quantity]
                if (c.id in allowed if allowed is not None else c.default)]

    def rejected(self, quantity: str) -> list[Convention]:
        accepted = {c.id for c in self.conventions(quantity)}
        return [c for c in CONVENTIONS[quantity] if c.id not in accepted]

    @property
    def free_channels(self) -> tuple[str, ...]:
        return tuple(c for c in CHANNELS if c not in self.given)


def describe_given(given: dict[str, int]) -> str:
    free = [n for n in ("NIC", "NF", "NC", "k") if n not in given]
    fixed = ", ".join(f"{n} = {v}" for n, v in given.items())
    text = "formula in " + ", ".join(free)
    return text + (f" ({fixed})" if fixed else "")


def _size(doubled: bool) -> int:
    return 64 if doubled else 32


def _student_values(expr: sympy.Expr, points: list[dict[str, int]]) -> list[sympy.Expr]:
    return [expr.xreplace({SYMBOLS[n]: sympy.Integer(v) for n, v in p.items()})
            for p in points]


def _measured_values(ctx: Context, quantity: str, conv_id: str, points: list[dict[str, int]],
                     size: int) -> list[int]:
    return [measured(ctx.model, quantity, conv_id, p, size) for p in points]


def _matches(ctx: Context, quantity: str, values: list[sympy.Expr], points: list[dict[str, int]],
             size: int, expr: sympy.Expr | None) -> list[Convention]:
    found = []
    for conv in ctx.conventions(quantity):
        expected = _measured_values(ctx, quantity, conv.id, points, size)
        if all(v == e for v, e in zip(values, expected, strict=True)):
            formula = expected_formula(ctx.model, quantity, conv.id, ctx.given, size)
            if expr is not None and formula is not None and sympy.expand(expr - formula) != 0:
                continue  # agrees at the points only by accident
            found.append(conv)
    return found


def _prefer(found: list[Convention], preferred: str | None) -> Convention:
    for conv in found:
        if conv.id == preferred:
            return conv
    return found[0]


def _apply_given(expr: sympy.Expr, given: dict[str, int]) -> sympy.Expr:
    return sympy.expand(expr.xreplace({SYMBOLS[n]: sympy.Integer(v) for n, v in given.items()}))


def check_count(key: str, text: Any, ctx: Context, preferred: str | None = None) -> Verdict:
    """Judge one counting answer (``weights``, ``outputs_doubled``, ...)."""
    quantity, _, suffix = key.partition("_")
    doubled = suffix == "doubled"
    if quantity not in QUANTITIES:
        raise ValueError(f"not a counting answer key: {key!r}")
    raw = "" if text is None else str(text)
    verdict = Verdict(key, "incorrect", answer=raw)
    if not raw.strip():
        verdict.status = "missing"
        return verdict
    try:
        expr: sympy.Expr | None = parse_answer(raw)
        error: AnswerParseError | None = None
    except AnswerParseError as exc:
        expr, error = None, exc
    try:
        if doubled and (expr is None or not expr.free_symbols):
            factor = parse_factor(raw)
            if factor is None and expr is not None and expr.is_Rational and expr <= 16:
                factor = Fraction(str(expr))  # a bare small number: a factor, not a count
            if factor is not None:
                return _check_factor(verdict, quantity, factor, ctx, preferred)
        if expr is None:
            assert error is not None
            verdict.status = "unparseable"
            verdict.hints = [str(error)]
            return verdict
        return _check_formula(verdict, quantity, doubled, expr, ctx, preferred)
    except CountError as exc:
        verdict.status = "error"
        verdict.hints = [str(exc)]
        return verdict


def _check_formula(verdict: Verdict, quantity: str, doubled: bool, expr: sympy.Expr,
                   ctx: Context, preferred: str | None) -> Verdict:
    size = _size(doubled)
    expr = _apply_given(expr, ctx.given)
    verdict.parsed = format_expr(expr)
    points = check_points(ctx.given)
    values = _student_values(expr, points)
    found = _matches(ctx, quantity, values, points, size, expr)
    if found:
        chosen = _prefer(found, preferred)
        verdict.status = "correct"
        verdict.convention, verdict.convention_label = chosen.id, chosen.label
        verdict.matches = [c.id for c in found]
        return verdict

    others = Context(ctx.model, ctx.given,
                     {quantity: tuple(c.id for c in ctx.rejected(quantity))}, ctx.substitutable)
    not_accepted = _matches(others, quantity, values, points, size, expr)
    if not_accepted:
        conv = not_accepted[0]
        verdict.convention, verdict.convention_label = conv.id, conv.label
        verdict.hints = [f"this counts {conv.label} ('{conv.id}'), a convention these answers "
                         f"are not marked under (list it under accept: to allow it)"]
        return verdict

    partial = _specialised_match(quantity, size, expr, ctx)
    if partial:
        conv, hint, substituted = partial
        if substituted:   # the question did not ask for the variable left out: full credit
            verdict.status = "correct"
            verdict.convention, verdict.convention_label = conv.id, conv.label
            verdict.matches = [conv.id]
            verdict.hints = [hint]
            return verdict
        verdict.status = "partial"
        verdict.convention, verdict.convention_label = conv.id, conv.label
        verdict.matches = [conv.id]
        formula = expected_formula(ctx.model, quantity, conv.id, ctx.given, size)
        verdict.expected = format_expr(formula) if formula is not None else None
        verdict.hints = [hint]
        return verdict

    closest, hints = _diagnose(quantity, size, expr, ctx, preferred)
    verdict.convention, verdict.convention_label = closest.id, closest.label
    formula = expected_formula(ctx.model, quantity, closest.id, ctx.given, size)
    verdict.expected = format_expr(formula) if formula is not None else None
    # a whole-answer mistake (a constant factor, another quantity) explains every term at once
    overall = _global_hints(quantity, doubled, expr, ctx, closest, values, points)
    verdict.hints = overall or hints
    return verdict


def _specialised_match(quantity: str, size: int, expr: sympy.Expr, ctx: Context
                       ) -> tuple[Convention, str, bool] | None:
    """A formula that leaves out k or NIC but is right at k = 3 or NIC = 1 (or a bare number):
    (the convention, a hint, whether only variables the question lets an answer substitute
    were left out)."""
    used = {s.name for s in expr.free_symbols}
    free = [n for n in ("NIC", "NF", "NC", "k") if n not in ctx.given]
    options: list[dict[str, int]] = []
    if not used:
        options.append({n: DEFAULT_POINT[n] for n in free})
    else:
        if "k" in free and "k" not in used:
            options.append({"k": 3})
        if "NIC" in free and "NIC" not in used:
            options.append({"NIC": 1})
        if len(options) == 2:
            options.append({"NIC": 1, "k": 3})
    for extra in options:
        sub = {**ctx.given, **extra}
        points = check_points(sub)
        values = _student_values(expr, points)
        sub_ctx = Context(ctx.model, sub, ctx.accept)
        found = _matches(sub_ctx, quantity, values, points, size, expr)
        if found:
            fixed = ", ".join(f"{n} = {v}" for n, v in extra.items())
            if used and all(ctx.substitutable.get(n) == v for n, v in extra.items()):
                asked = ", ".join(n for n in free if n not in ctx.substitutable)
                return found[0], (f"{fixed} substituted: the question asks for a formula in "
                                  f"{asked}"), True
            if not used:
                hint = (f"a number, not a formula: it equals the count at {fixed} "
                        f"({'64×64' if size == 64 else '32×32'} input); the question asks "
                        f"for a {describe_given(ctx.given)}")
            else:
                missing = " and ".join(extra)
                hint = (f"the formula leaves out {missing}: it is right only for {fixed}; the "
                        f"question asks for a {describe_given(ctx.given)}")
            return found[0], hint, False
    return None


def _term_hints(student: dict[tuple[int, ...], sympy.Expr],
                expected: dict[tuple[int, ...], sympy.Expr], names: tuple[str, ...]
                ) -> list[str]:
    hints = []
    for mono in sorted(set(student) | set(expected), key=lambda m: (-sum(m), [-e for e in m])):
        have = student.get(mono, sympy.Integer(0))
        want = expected.get(mono, sympy.Integer(0))
        if sympy.expand(have - want) == 0:
            continue
        label = "the constant term" if not any(mono) else \
            f"the {format_term(sympy.Integer(1), mono, names)} term"
        if want == 0:
            hints.append(f"{label}: you have {format_term(have, mono, names)}, "
                         "expected no such term")
        elif have == 0:
            hints.append(f"missing {label} (expected {format_term(want, mono, names)})")
        else:
            hints.append(f"{label}: you have {format_term(have, mono, names)}, "
                         f"expected {format_term(want, mono, names)}")
    return hints


def _diagnose(quantity: str, size: int, expr: sympy.Expr, ctx: Context, preferred: str | None
              ) -> tuple[Convention, list[str]]:
    names = ctx.free_channels
    student = monomial_terms(expr, names)
    # an answer that substituted what the question lets it (k = 3) is compared term by term
    # with the count at that value: "you have 9216NIC·NF" is then right, not "off"
    used = {s.name for s in expr.free_symbols}
    given = {**ctx.given, **{n: v for n, v in ctx.substitutable.items() if n not in used}}
    best: tuple[int, int, Convention, list[str]] | None = None
    for rank, conv in enumerate(ctx.conventions(quantity)):
        formula = expected_formula(ctx.model, quantity, conv.id, given, size)
        if formula is None or student is None:
            continue
        expected = monomial_terms(formula, names)
        if expected is None:
            continue
        hints = _term_hints(student, expected, names)
        score = (len(hints), 0 if conv.id == preferred else rank + 1)
        if best is None or score < best[:2]:
            best = (score[0], score[1], conv, hints)
    if best is not None:
        hints = best[3]
        if len(hints) > MAX_TERM_HINTS:
            hints = hints[:MAX_TERM_HINTS] + [f"... and {len(hints) - MAX_TERM_HINTS} more terms"]
        return best[2], hints
    conv = _prefer(ctx.conventions(quantity), preferred)
    point = {**DEFAULT_POINT, **ctx.given}
    want = measured(ctx.model, quantity, conv.id, point, size)
    have = _student_values(expr, [point])[0]
    where = ", ".join(f"{n}={v}" for n, v in point.items())
    hint = f"at {where} your formula gives {have}, expected {want}"
    if student is None:
        hint += " (it is not a polynomial in " + ", ".join(names) + ")"
    return conv, [hint]


def _ratio(values: list[sympy.Expr], expected: list[int]) -> sympy.Rational | None:
    ratios = {sympy.Rational(v) / e for v, e in zip(values, expected, strict=True)
              if e and v.is_Rational}
    return ratios.pop() if len(ratios) == 1 and len(values) == len(expected) else None


def _global_hints(quantity: str, doubled: bool, expr: sympy.Expr, ctx: Context,
                  closest: Convention, values: list[sympy.Expr], points: list[dict[str, int]]
                  ) -> list[str]:
    """Whole-answer mistakes: a constant factor off, the other input size, another quantity."""
    hints = []
    size = _size(doubled)
    expected = _measured_values(ctx, quantity, closest.id, points, size)
    ratio = _ratio(values, expected)
    if ratio is not None and ratio != 1:
        hint = f"your answer is {ratio}× the expected count"
        if ratio == 4 and not doubled:
            hint += " (that is the count for a 64×64 input)"
        if ratio == sympy.Rational(1, 4) and doubled:
            hint += " (that is the count for a 32×32 input)"
        hints.append(hint)
    for other_q in QUANTITIES:
        for other_size in (32, 64):
            if other_q == quantity and (other_size == size or hints):
                continue  # the same quantity at the other size is what the ratio hint says
            for conv in CONVENTIONS[other_q]:
                got = _measured_values(ctx, other_q, conv.id, points, other_size)
                if all(v == g for v, g in zip(values, got, strict=True)):
                    what = f"{other_q} count ({conv.label}) for a {other_size}×{other_size} input"
                    hints.append(f"this is the {what}")
                    return hints
    return hints


def _check_factor(verdict: Verdict, quantity: str, factor: Fraction, ctx: Context,
                  preferred: str | None) -> Verdict:
    verdict.parsed = "unchanged (×1)" if factor == 1 else f"×{factor}"
    points = check_points(ctx.given)
    found, ratios = [], {}
    for conv in ctx.conventions(quantity):
        small = _measured_values(ctx, quantity, conv.id, points, 32)
        large = _measured_values(ctx, quantity, conv.id, points, 64)
        if all(Fraction(b) == factor * a for a, b in zip(small, large, strict=True)):
            found.append(conv)
        exact = {Fraction(b, a) for a, b in zip(small, large, strict=True) if a}
        ratios[conv.id] = exact.pop() if len(exact) == 1 else None
    if found:
        chosen = _prefer(found, preferred)
        verdict.status = "correct"
        verdict.convention, verdict.convention_label = chosen.id, chosen.label
        verdict.matches = [c.id for c in found]
        return verdict
    conv = _prefer(ctx.conventions(quantity), preferred)
    verdict.convention, verdict.convention_label = conv.id, conv.label
    actual = ratios.get(conv.id)
    if actual is not None:
        change = "is unchanged" if actual == 1 else f"grows ×{actual}"
        verdict.expected = "unchanged (×1)" if actual == 1 else f"×{actual}"
        verdict.hints = [f"with a 64×64 input the {quantity} count {change} "
                         f"(you wrote ×{factor})"]
    else:
        verdict.hints = [f"the {quantity} count does not change by a constant factor under "
                         f"this convention; give the formula for a 64×64 input"]
    return verdict


def check_padding(key: str, entry: Any, model: str, k: int) -> Verdict:
    """Judge one kernel size of the padding question by building the layers with the values."""
    verdict = Verdict(key, "incorrect", answer=_show_entry(entry))
    if entry is None or (isinstance(entry, str) and not entry.strip()):
        verdict.status = "missing"
        return verdict
    try:
        answer = read_padding(entry)
    except PaddingError as exc:
        verdict.status = "unparseable"
        verdict.hints = [str(exc)]
        return verdict
    verdict.parsed = answer.describe()
    target = reference_sizes(model)
    canonical = valid_settings(model, k)
    sizes, error = run_strided(model, k, answer)
    got = tuple(s for _, _, s in sizes)
    if error is None and got == target:
        verdict.status = "correct"
        verdict.convention = "shape-preserving"
        verdict.convention_label = "keeps " + " → ".join(["32", *(str(h) for h, _ in target)])
        verdict.matches = ["shape-preserving"]
        if canonical and answer not in canonical:
            verdict.hints.append(f"keeps the shapes, but differs from the usual values "
                                 f"({canonical[0].describe()})")
        if answer.dilation != (1, 1):
            verdict.hints.append("changes the ConvTranspose2d dilation, which the handout "
                                 "fixes at 1")
        return verdict
    for (name, kind, size), want in zip(sizes, target, strict=False):
        if size != want:
            verdict.hints.append(f"{kind} {name} gives {size[0]}×{size[1]}, expected "
                                 f"{want[0]}×{want[1]}")
            break
    if error is not None:
        verdict.hints.append(f"PyTorch rejects these values: {error.split(', but got')[0]}")
    if canonical:
        verdict.expected = canonical[0].describe()
    return verdict


def _show_entry(entry: Any) -> str | None:
    if entry is None:
        return None
    if isinstance(entry, dict):
        return ", ".join(f"{k}={v}" for k, v in entry.items())
    return str(entry)

"""A normal form for rules, so that rules equal by simple algebra print equally.

:func:`canonical` applies only rewrites that leave the computed update unchanged (bit for bit
where floating point allows):

- ``keep(x, y) → x`` (the right branch is dead);
- ``--x → x``; ``x * 1 → x``; ``sign(sign(x)) → sign(x)``; ``sign(exp(x)) → 1`` where ``x`` is
  provably at least −80 (as in ``exp(sign(g) * sign(m))``; a lower ``x`` may underflow ``exp`` to 0,
  whose sign is 0: in float32 already below −104);
- ``log(-x) → log(x)`` and ``sqrt(-x) → sqrt(x)`` (both read ``|x|``);
- ``clip(clip(x, a), b) → clip(x, min(a, b))``;
- ``x + (-y) → x - y`` and ``x - (-y) → x + y``;
- chains of ``+`` and of ``*`` are flattened and their terms sorted, then rebuilt left to right,
  so ``g * exp(sign(g) * sign(m))`` and ``exp(sign(m) * sign(g)) * g`` become one text.

A rule whose normal form would be deeper than :data:`~optsearch.dsl.expr.MAX_DEPTH` levels (rebuilt
chains are deeper than balanced ones: think of a balanced sum of hundreds of terms) is its own
canonical form, so :func:`canonical` accepts every tree that can be made.

``sign(g)`` the operand and ``sign`` applied to ``g`` are one tree already (see
:mod:`optsearch.dsl.tokens`). Functional equality beyond these rewrites is the job of
:func:`optsearch.dsl.fingerprint`.
"""

from __future__ import annotations

from .expr import Binary, Expr, Operand, RuleTooDeepError, Unary
from .bounds import value_bounds
from .primitives import EXP_MAX, UNARY_BY_NAME

ONE = Operand("1")


def canonical(expr: Expr) -> Expr:
    """The normal form of ``expr``; idempotent: ``canonical(canonical(e)) == canonical(e)``."""
    try:
        return _normal_form(expr)
    except RuleTooDeepError:
        # Normalising ``expr`` again would raise again: returning it unchanged keeps canonical
        # idempotent (and a rule is trivially equivalent to itself).
        return expr


def _normal_form(expr: Expr) -> Expr:
    if isinstance(expr, Operand):
        return expr
    if isinstance(expr, Unary):
        return _unary(expr.fn, _normal_form(expr.arg))
    if expr.fn == "keep":
        return _normal_form(expr.left)
    return _binary(expr.fn, _normal_form(expr.left), _normal_form(expr.right))


def _is_neg(expr: Expr) -> bool:
    return isinstance(expr, Unary) and expr.fn == "neg"


def _unary(fn: str, arg: Expr) -> Expr:
    if fn == "id":
        return arg
    if fn == "neg" and _is_neg(arg):
        return arg.arg  # type: ignore[union-attr]
    if fn == "sign" and isinstance(arg, Unary) and arg.fn == "sign":
        return arg
    if fn == "sign" and isinstance(arg, Unary) and arg.fn == "exp" and _exp_cannot_underflow(arg.arg):
        return ONE
    if fn in ("log", "sqrt") and _is_neg(arg):
        return _unary(fn, arg.arg)  # type: ignore[union-attr]
    if fn.startswith("clip") and isinstance(arg, Unary) and arg.fn.startswith("clip"):
        tighter = min(UNARY_BY_NAME[fn].param, UNARY_BY_NAME[arg.fn].param)  # type: ignore[type-var]
        name = fn if UNARY_BY_NAME[fn].param == tighter else arg.fn
        return Unary(name, arg.arg)
    return Unary(fn, arg)


def _exp_cannot_underflow(expr: Expr) -> bool:
    bounds = value_bounds(expr)
    return bounds is not None and bounds[0] >= -EXP_MAX


def _binary(fn: str, left: Expr, right: Expr) -> Expr:
    if fn == "sub" and _is_neg(right):
        return _binary("add", left, right.arg)  # type: ignore[union-attr]
    if fn in ("add", "mul"):
        return _rebuilt_chain(fn, left, right)
    return Binary(fn, left, right)


def _rebuilt_chain(fn: str, left: Expr, right: Expr) -> Expr:
    """``left fn right`` with the ``fn`` chains of both sides flattened, sorted and rebuilt."""
    if fn == "add":
        terms = _flatten(fn, left) + _flatten(fn, right)
        added = sorted((t for t in terms if not _is_neg(t)), key=_sort_key)
        subtracted = sorted((t.arg for t in terms if _is_neg(t)), key=_sort_key)  # type: ignore[union-attr]
        result = _chain("add", added) if added else Unary("neg", subtracted.pop(0))
        for term in subtracted:
            result = Binary("sub", result, term)
        return result
    factors = [t for t in _flatten(fn, left) + _flatten(fn, right) if t != ONE] or [ONE]
    return _chain("mul", sorted(factors, key=_sort_key))


def _chain(fn: str, terms: list[Expr]) -> Expr:
    result = terms[0]
    for term in terms[1:]:
        result = Binary(fn, result, term)
    return result


def _flatten(fn: str, expr: Expr) -> list[Expr]:
    if isinstance(expr, Binary) and expr.fn == fn:
        return _flatten(fn, expr.left) + _flatten(fn, expr.right)
    return [expr]


def _sort_key(expr: Expr) -> tuple[int, str]:
    # Operands first, then compound terms; ties broken by text, so the order is total.
    return (0 if isinstance(expr, Operand) else 1, str(expr))

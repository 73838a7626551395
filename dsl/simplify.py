"""Rules a reader can read: :func:`canonical` plus constant folding and neutral operations removed.

Searched rules carry dead weight that computes nothing, such as ``drop(adam, 0.1) * sign(1)``
(``sign(1)`` is 1). :func:`simplify` removes it, and :func:`simplify_checked` makes sure by the
fingerprint that the short text still computes what the long one did.

**What counts as exact.** A rewrite is applied only where both sides compute the same function for
every input, finite or not (``±inf``, ``NaN``), as the compiler evaluates it (:mod:`optsearch.dsl.compiler`),
not just in real arithmetic; constants are the integers that the operands ``1`` and ``2`` build, which
the compiler handles as exact Python floats. The language never tells ``-0`` from ``+0`` (``sign``,
the protections and the update itself treat them alike), so rewrites may change the sign of a zero.
Where a rewrite lets :func:`canonical` reorder a chain afterwards, the rounding of that chain can
change, as it can for :func:`canonical` itself; :func:`simplify_checked` guards against it.

**The rewrites**, applied bottom-up and repeated with :func:`canonical` until nothing changes
(every one leaves the rule no longer, so this ends):

1. everything :func:`canonical` does: ``keep(x, y) → x``, ``--x → x``, ``x * 1 → x``, ``id(x) → x``,
   ``sign(sign(x)) → sign(x)``, ``sign(exp(x)) → 1`` (where ``exp`` cannot underflow),
   ``log(-x)``, ``sqrt(-x)``, ``clip(clip(x, a), b) → clip(x, min(a, b))``, ``x + (-y) → x - y``,
   ``x - (-y) → x + y``, sorted ``+`` and ``*`` chains;
2. constant folding: a subtree built from the operands ``1`` and ``2`` with ``+``, ``-``, ``*``,
   negation, ``sign``, ``sqrt`` (of a perfect square), ``exp`` (of 0) and ``clip`` (of 0) is
   evaluated exactly and written the shortest way (see :data:`CONSTANT_TEXTS`, integers −4 … 4):
   ``sign(1) → 1``, ``sign(-2) → -1``, ``1 + 1 → 2``, ``exp(1 - 1) → 1``, ``sqrt(2 * 2) → 2``,
   ``clip(1 - 1, 1e-4) → 1 - 1``;
3. zero terms of sums: ``x + 0 → x``, ``0 + x → x``, ``x - 0 → x``, ``0 - x → -x`` (``0`` any
   constant subtree worth 0, such as ``sign(1) - 1``);
4. products: factors worth 1 vanish (``x * sign(1) → x``); a factor worth −1 negates
   (``x * -1 → -x``); negations move out of products and cancel (``-x * -y → x * y``,
   ``-x * y → -(x * y)``: IEEE multiplication is symmetric in sign); several constant factors
   merge where that is shorter;
5. sign of a positive or negative multiple: ``sign(k * x) → sign(x)`` and ``−sign(x)`` for
   ``k < 0``, where ``k`` is a nonzero constant (so ``|k| ≥ 1`` and ``k · x`` can overflow to
   ``±inf`` but never underflow to 0) and ``x`` is a single factor;
6. sign of sign-preserving functions: ``sign(clip(x, c)) → sign(x)`` (clipping keeps the sign,
   and ``NaN`` stays ``NaN``); ``sign(-x) → -sign(x)``; ``sign(adam) → sign(m)`` and
   ``sign(rmsprop) → sign(g)``: Adam's and RMSProp's denominators are positive, and the compiler
   takes the sign of such a ratio from its numerator (the same buffer ``m`` with the same β₁, or
   ``g``) bit for bit.

**Not applied, because they are not exact:**

- ``x * 0 → 0`` and ``x - x → 0`` for non-constant ``x``: ``inf · 0`` and ``inf − inf`` are
  ``NaN``, and even a bounded-looking ``sign(g)`` is not 0 after multiplication by 0 when ``g`` is
  ``inf``; besides, deleting a subtree with ``noise`` or ``drop`` would change the random draws of
  the rest of the rule;
- ``x ^ 1 → x``, ``1 ^ x → 1``, ``x / 1 → x``, ``log(1) → 0``: the protected power, division and
  log add δ (``x ^ 1`` is ``s(x) · (|x| + δ)``, ``x / 1`` is ``x / (1 + δ)``, ``log(1)`` is
  ``log(1 + δ)``), so they differ from the short form by δ, which is visible for small ``x``;
- ``exp(c)`` for ``c ≠ 0``, ``clip(c, b)`` for ``c ≠ 0`` (it is ``±b``) and ``sqrt(2)``: exact
  values no text of the language writes;
- ``drop(x, 0)``: the language has no drop rate 0 (only 0.1, 0.3, 0.5), and a ``drop`` of a
  constant still draws random numbers, so it stays;
- ``sign(g3) → sign(g)``: ``g³`` underflows to 0 for tiny ``g`` (below about 1e-15 in float32);
  ``sign(k * x * y)`` with two non-constant factors: their product may underflow where ``k``
  times it does not;
- ``-(x - y) → y - x``: exact in IEEE arithmetic, but the compiler folds the scale of ``m̂``
  into a sum from one side, so the two round differently; at the first step, where ``m̂ = g``,
  ``g - m`` is exactly 0 and ``m - g`` a rounding error;
- ``(x + 1) - 1 → x`` (constants of a sum that are not next to each other): exact only in real
  arithmetic.

**Length** is the number of nodes of the tree (:func:`~optsearch.dsl.expr.size`): ``sign(m)`` is
2, ``drop(adam, 0.1) * sign(1)`` is 5, ``drop(adam, 0.1)`` is 2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional, Union

from .canonical import canonical
from .expr import Binary, Expr, Operand, RuleTooDeepError, Unary, size
from .fingerprint import fingerprint
from .parser import parse
from .printer import to_text
from .primitives import UNARY_BY_NAME

_ONE = Operand("1")

CONSTANT_TEXTS: dict[int, str] = {
    0: "1 - 1",
    1: "1",
    2: "2",
    3: "1 + 2",
    4: "2 * 2",
    -1: "-1",
    -2: "-2",
    -3: "-1 - 2",
    -4: "-(2 * 2)",
}
"""How a folded constant is written: the shortest texts of the integers −4 … 4 (others stay as they are)."""

_CONSTANTS: dict[int, Expr] = {value: parse(text) for value, text in CONSTANT_TEXTS.items()}
_LARGEST_EXACT = 2**53  # integers beyond this are no longer exact in the compiler's float64


def simplify(expr: Expr) -> Expr:
    """``expr`` with the exact rewrites of this module applied until none applies; idempotent.

    The result computes the same update as ``expr`` and has no more nodes.
    """
    current = canonical(expr)
    while True:
        try:
            rewritten = canonical(_rewrite(current))
        except RuleTooDeepError:  # a rebuilt chain would be too deep: stop at the last good tree
            return current
        if rewritten == current or size(rewritten) > size(current):
            return current
        current = rewritten


@dataclass(frozen=True)
class Simplified:
    """A rule as reported: ``rule`` (the simplified rule, or ``original`` when the check failed).

    ``changed`` says whether ``rule`` differs from ``original``; the lengths are node counts
    (:func:`~optsearch.dsl.expr.size`) of ``original`` and ``rule``.
    """

    rule: Expr
    original: Expr
    changed: bool
    length_before: int
    length_after: int

    @property
    def text(self) -> str:
        """``rule`` as text."""
        return to_text(self.rule)


def simplify_checked(
    rule: Union[Expr, str], simplifier: Callable[[Expr], Expr] = simplify
) -> Simplified:
    """Simplify ``rule`` (an ``Expr`` or rule text) and keep the result only if its fingerprint is
    that of ``rule``; otherwise report ``rule`` unchanged.

    ``simplifier`` is :func:`simplify` unless a test injects another one. Text that does not parse
    raises :class:`~optsearch.dsl.ParseError`.
    """
    original = parse(rule) if isinstance(rule, str) else rule
    candidate = simplifier(original)
    if candidate != original and fingerprint(candidate) != fingerprint(original):
        candidate = original
    return Simplified(candidate, original, candidate != original, size(original), size(candidate))


# ------------------------------------------------------------------------------------------------
# Constants
# ------------------------------------------------------------------------------------------------
def constant_value(expr: Expr) -> Optional[int]:
    """The exact value of ``expr`` if it is a constant the compiler computes exactly, else ``None``."""
    if isinstance(expr, Operand):
        return {"1": 1, "2": 2}.get(expr.name)
    if isinstance(expr, Unary):
        inner = constant_value(expr.arg)
        if inner is None:
            return None
        if expr.fn in ("id", "neg"):
            return inner if expr.fn == "id" else -inner
        if expr.fn == "sign":
            return (inner > 0) - (inner < 0)
        if expr.fn == "sqrt":
            root = math.isqrt(abs(inner))
            return root if root * root == abs(inner) else None
        if expr.fn == "exp":
            return 1 if inner == 0 else None
        if expr.fn.startswith("clip"):
            return inner if abs(inner) <= UNARY_BY_NAME[expr.fn].param else None  # type: ignore[operator]
        return None  # log (adds δ), drop (random)
    if expr.fn == "keep":
        return constant_value(expr.left)
    left, right = constant_value(expr.left), constant_value(expr.right)
    if left is None or right is None or expr.fn not in ("add", "sub", "mul"):
        return None  # div and pow add δ
    value = left + right if expr.fn == "add" else left - right if expr.fn == "sub" else left * right
    return value if abs(value) <= _LARGEST_EXACT else None


def _folded(expr: Expr) -> Expr:
    """``expr``, or the written form of its constant value where that is no longer."""
    value = constant_value(expr)
    if value is None or value not in _CONSTANTS:
        return expr
    written = _CONSTANTS[value]
    return written if size(written) <= size(expr) else expr


# ------------------------------------------------------------------------------------------------
# The rewrites
# ------------------------------------------------------------------------------------------------
def _rewrite(expr: Expr) -> Expr:
    if isinstance(expr, Operand):
        return expr
    if isinstance(expr, Unary):
        return _folded(_unary(expr.fn, _rewrite(expr.arg)))
    return _folded(_binary(expr.fn, _rewrite(expr.left), _rewrite(expr.right)))


def _is_neg(expr: Expr) -> bool:
    return isinstance(expr, Unary) and expr.fn == "neg"


def _unary(fn: str, arg: Expr) -> Expr:
    if fn != "sign":
        return Unary(fn, arg)
    if isinstance(arg, Operand) and arg.name in ("adam", "rmsprop"):
        return Unary("sign", Operand("m" if arg.name == "adam" else "g"))
    if isinstance(arg, Unary) and arg.fn.startswith("clip"):
        return _unary("sign", arg.arg)
    if _is_neg(arg):
        return Unary("neg", _unary("sign", arg.arg))  # type: ignore[union-attr]
    if isinstance(arg, Binary) and arg.fn == "mul":
        values = [(factor, constant_value(factor)) for factor in _flatten_product(arg)]
        rest = [factor for factor, value in values if value is None]
        scale = math.prod(value for _, value in values if value is not None)
        if len(rest) == 1 and scale != 0:
            inner = _unary("sign", rest[0])
            return inner if scale > 0 else Unary("neg", inner)
    return Unary("sign", arg)


def _binary(fn: str, left: Expr, right: Expr) -> Expr:
    if fn in ("add", "sub"):
        if constant_value(right) == 0:
            return left
        if constant_value(left) == 0:
            return right if fn == "add" else Unary("neg", right)
    if fn == "mul":
        return _product(Binary(fn, left, right))
    return Binary(fn, left, right)


def _flatten_product(expr: Expr) -> list[Expr]:
    if isinstance(expr, Binary) and expr.fn == "mul":
        return _flatten_product(expr.left) + _flatten_product(expr.right)
    return [expr]


def _product(expr: Binary) -> Expr:
    """A product with its ±1 factors gone, its negations moved out and its constants merged."""
    negative = False
    rest: list[Expr] = []
    constants: list[int] = []
    for factor in _flatten_product(expr):
        while _is_neg(factor):
            factor, negative = factor.arg, not negative  # type: ignore[union-attr]
        value = constant_value(factor)
        if value is not None and abs(value) in _CONSTANTS:
            negative ^= value < 0
            constants.append(abs(value))
        else:
            rest.append(factor)
    scale = math.prod(constants)
    if scale == 0:
        return expr  # x * 0 is NaN for infinite x: only all-constant products fold (in _folded)
    if scale == 1:
        kept: list[Expr] = []
    elif scale in _CONSTANTS and (len(constants) > 1 or not rest):
        kept = [_CONSTANTS[scale]]
    else:
        kept = [_CONSTANTS[c] for c in constants if c != 1]
    factors = rest + kept or [_ONE]
    result = factors[0]
    for factor in factors[1:]:
        result = Binary("mul", result, factor)
    if negative:
        result = Unary("neg", result)
    return result if size(result) <= size(expr) else expr


"""Static ranges of a rule's value, to skip protections that cannot trigger (no torch compile needed)."""

from __future__ import annotations

import math
from typing import Optional

from .expr import Expr, Operand, Unary
from .primitives import EXP_MAX, OPERAND_BY_NAME, UNARY_BY_NAME

Bounds = Optional[tuple[float, float]]


def value_bounds(expr: Expr) -> Bounds:
    """An interval the rule's value never leaves, or ``None`` if unknown."""
    if isinstance(expr, Operand):
        return OPERAND_BY_NAME[expr.name].bounds
    if isinstance(expr, Unary):
        inner = value_bounds(expr.arg)
        if expr.fn == "sign":
            return (-1.0, 1.0)
        if expr.fn.startswith("clip"):
            c = UNARY_BY_NAME[expr.fn].param
            return (-c, c)  # type: ignore[operator]
        if inner is None:
            return None
        if expr.fn == "neg":
            return (-inner[1], -inner[0])
        if expr.fn == "exp":
            return (math.exp(min(inner[0], EXP_MAX)), math.exp(min(inner[1], EXP_MAX)))
        return None
    if expr.fn == "keep":
        return value_bounds(expr.left)
    left, right = value_bounds(expr.left), value_bounds(expr.right)
    if left is None or right is None:
        return None
    if expr.fn == "add":
        return (left[0] + right[0], left[1] + right[1])
    if expr.fn == "sub":
        return (left[0] - right[1], left[1] - right[0])
    if expr.fn == "mul":
        corners = [a * b for a in left for b in right]
        return (min(corners), max(corners))
    return None

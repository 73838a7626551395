"""Printing rules as text (which :func:`~optsearch.dsl.parse` reads back) and as LaTeX.

Precedence is that of mathematics: ``^`` binds tighter than unary minus, which binds tighter than
``*`` and ``/``, which bind tighter than ``+`` and ``-``. Binary operators other than ``^`` group to
the left; parentheses are printed exactly where the tree needs them, so ``parse(str(e)) == e``.
"""

from __future__ import annotations

from .expr import Binary, Expr, Operand, Unary
from .primitives import BINARY_BY_NAME, OPERAND_BY_NAME, UNARY_BY_NAME

ATOM = 5
NEGATION = 3
POWER = BINARY_BY_NAME["pow"].precedence


def _is_weight_term(name: str) -> bool:
    return name.endswith("*w")


def _operand_precedence(node: Operand) -> int:
    # "1e-3 * w" reads as a product, so it is bracketed where a product would be.
    return BINARY_BY_NAME["mul"].precedence if _is_weight_term(node.name) else ATOM


def _precedence(node: Expr) -> int:
    if isinstance(node, Operand):
        return _operand_precedence(node)
    if isinstance(node, Unary):
        return NEGATION if node.fn == "neg" else ATOM
    return BINARY_BY_NAME[node.fn].precedence


def _needs_brackets(child: Expr, parent_precedence: int, side: str) -> bool:
    """Whether ``child`` must be bracketed as the ``side`` operand of an operator."""
    child_precedence = _precedence(child)
    if isinstance(child, Unary) and child.fn == "neg" and side == "right":
        return True  # "g + (-m)" rather than "g + -m"
    if parent_precedence == POWER:  # right-associative
        return child_precedence <= POWER if side == "left" else child_precedence < POWER
    if side == "left":
        return child_precedence < parent_precedence
    return child_precedence <= parent_precedence


def to_text(expr: Expr) -> str:
    """The rule as text, e.g. ``exp(sign(g) * sign(m)) * g``."""
    if isinstance(expr, Operand):
        return OPERAND_BY_NAME[expr.name].text if expr.name in OPERAND_BY_NAME else expr.name
    if isinstance(expr, Unary):
        spec = UNARY_BY_NAME[expr.fn]
        inner = to_text(expr.arg)
        if spec.name == "id":
            return inner
        if spec.name == "neg":
            return f"-({inner})" if _precedence(expr.arg) <= NEGATION else f"-{inner}"
        if spec.param_text is not None:
            return f"{spec.text}({inner}, {spec.param_text})"
        return f"{spec.text}({inner})"
    spec = BINARY_BY_NAME[expr.fn]
    left, right = to_text(expr.left), to_text(expr.right)
    if spec.symbol is None:
        return f"{spec.name}({left}, {right})"
    if _needs_brackets(expr.left, spec.precedence, "left"):
        left = f"({left})"
    if _needs_brackets(expr.right, spec.precedence, "right"):
        right = f"({right})"
    return f"{left} {spec.symbol} {right}"


def to_latex(expr: Expr) -> str:
    """The rule in the paper's notation, e.g. ``e^{\\text{sign}(g)\\,\\text{sign}(\\hat m)}\\,g``."""
    if isinstance(expr, Operand):
        return OPERAND_BY_NAME[expr.name].latex
    if isinstance(expr, Unary):
        spec = UNARY_BY_NAME[expr.fn]
        inner = to_latex(expr.arg)
        if spec.name == "neg" and _precedence(expr.arg) <= NEGATION:
            inner = f"\\left({inner}\\right)"
        return spec.latex.format(x=inner)
    spec = BINARY_BY_NAME[expr.fn]
    left, right = to_latex(expr.left), to_latex(expr.right)
    if spec.name == "div":  # a fraction bar groups both sides by itself
        return spec.latex.format(x=left, y=right)
    if spec.name == "pow":
        if _needs_brackets(expr.left, spec.precedence, "left"):
            left = f"\\left({left}\\right)"
        return spec.latex.format(x=left, y=right)
    if spec.symbol is not None:
        if _needs_brackets(expr.left, spec.precedence, "left"):
            left = f"\\left({left}\\right)"
        if _needs_brackets(expr.right, spec.precedence, "right"):
            right = f"\\left({right}\\right)"
    if spec.name == "mul" and right[:1].isdigit():
        return f"{left} \\cdot {right}"
    return spec.latex.format(x=left, y=right)

"""The expression tree of an update rule.

An update rule is a small tree: leaves are :class:`Operand` s (``g``, ``m``, ``adam``, ``1e-3 * w``, ...),
inner nodes apply a unary function (:class:`Unary`) or a binary function (:class:`Binary`). The
optimizer performs :math:`w \\leftarrow w - \\lambda \\cdot \\text{rule}`.

Nodes are frozen dataclasses: hashable, comparable by value, and free of any fitness or state.
``str(expr)`` prints the rule as readable text that :func:`optsearch.dsl.parse` reads back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Union


@dataclass(frozen=True, slots=True)
class Operand:
    """A leaf of the tree, named by its text form (``"g"``, ``"m"``, ``"1e-3*w"``, ``"2"``, ...)."""

    name: str

    def __str__(self) -> str:
        from .printer import to_text

        return to_text(self)


@dataclass(frozen=True, slots=True)
class Unary:
    """A unary function applied to one sub-rule; ``fn`` is the unary's name (``"exp"``, ``"clip1e-4"``)."""

    fn: str
    arg: "Expr"

    def __str__(self) -> str:
        from .printer import to_text

        return to_text(self)


@dataclass(frozen=True, slots=True)
class Binary:
    """A binary function of two sub-rules; ``fn`` is the binary's name (``"add"``, ``"div"``, ``"keep"``)."""

    fn: str
    left: "Expr"
    right: "Expr"

    def __str__(self) -> str:
        from .printer import to_text

        return to_text(self)


Expr = Union[Operand, Unary, Binary]


def children(expr: Expr) -> tuple[Expr, ...]:
    """The direct sub-rules of ``expr`` (none for an operand)."""
    if isinstance(expr, Unary):
        return (expr.arg,)
    if isinstance(expr, Binary):
        return (expr.left, expr.right)
    return ()


def walk(expr: Expr) -> Iterator[Expr]:
    """Every node of ``expr``, parents before children, left before right."""
    stack = [expr]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(children(node)))


def operands(expr: Expr) -> frozenset[str]:
    """The names of the operands ``expr`` reads."""
    return frozenset(node.name for node in walk(expr) if isinstance(node, Operand))


def size(expr: Expr) -> int:
    """The number of nodes in ``expr``."""
    return sum(1 for _ in walk(expr))


def depth(expr: Expr) -> int:
    """The length of the longest root-to-leaf path (an operand has depth 1)."""
    kids = children(expr)
    return 1 + (max(depth(k) for k in kids) if kids else 0)

"""The expression tree of an update rule.

An update rule is a small tree: leaves are :class:`Operand` s (``g``, ``m``, ``adam``, ``1e-3 * w``, ...),
inner nodes apply a unary function (:class:`Unary`) or a binary function (:class:`Binary`). The
optimizer performs :math:`w \\leftarrow w - \\lambda \\cdot \\text{rule}`.

Nodes are frozen dataclasses: hashable, comparable by value, and free of any fitness or state.
``str(expr)`` prints the rule as readable text that :func:`optsearch.dsl.parse` reads back.

No tree is deeper than :data:`MAX_DEPTH` levels: every node knows its depth (computed from its
children when it is made, in constant time), and making a node that would be deeper raises
:class:`RuleTooDeepError`. So whatever builds a tree — the parser, the token decoder, the canonical
form, a searcher's mutation or a direct constructor call — is bounded, and the recursive walks of
printing, hashing, comparing and compiling always have room on the stack.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Union

MAX_DEPTH = 100
"""The deepest tree allowed, counting nodes on the longest root-to-leaf path (an operand is 1).

Searched rules are a handful of levels deep (the controller's ``G`` groups build at most
``2G + 1``) and the named and paper rules at most 6, so the cap only stops runaway inputs; the deepest
recursion it allows (about three Python frames a level, when comparing two trees) stays well inside
the default recursion limit of 1000.
"""


class RuleTooDeepError(ValueError):
    """A tree would be nested deeper than :data:`MAX_DEPTH` levels."""


def _depth_below(node: "Expr", *kids: object) -> int:
    """The depth of ``node`` made from ``kids``; raises if it would exceed :data:`MAX_DEPTH`."""
    for kid in kids:
        if not isinstance(kid, (Operand, Unary, Binary)):
            raise TypeError(f"a {type(node).__name__}'s sub-rules are Expr nodes, got {type(kid).__name__}")
    depth = 1 + max(kid.depth for kid in kids)  # type: ignore[union-attr]
    if depth > MAX_DEPTH:
        raise RuleTooDeepError(f"rule is nested deeper than {MAX_DEPTH} levels")
    return depth


class _Node:
    """What every node shares: printing, and copies that are the node itself (trees are immutable)."""

    __slots__ = ()

    def __str__(self) -> str:
        from .printer import to_text

        return to_text(self)  # type: ignore[arg-type]

    def __copy__(self) -> "_Node":
        return self

    def __deepcopy__(self, memo: dict) -> "_Node":
        return self


@dataclass(frozen=True, slots=True)
class Operand(_Node):
    """A leaf of the tree, named by its text form (``"g"``, ``"m"``, ``"1e-3*w"``, ``"2"``, ...)."""

    name: str
    depth: int = field(default=1, init=False, repr=False, compare=False)
    """Always 1: an operand is one level deep."""


@dataclass(frozen=True, slots=True)
class Unary(_Node):
    """A unary function applied to one sub-rule; ``fn`` is the unary's name (``"exp"``, ``"clip1e-4"``)."""

    fn: str
    arg: "Expr"
    depth: int = field(init=False, repr=False, compare=False)
    """Levels from this node down to its deepest operand; at most :data:`MAX_DEPTH`."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "depth", _depth_below(self, self.arg))


@dataclass(frozen=True, slots=True)
class Binary(_Node):
    """A binary function of two sub-rules; ``fn`` is the binary's name (``"add"``, ``"div"``, ``"keep"``)."""

    fn: str
    left: "Expr"
    right: "Expr"
    depth: int = field(init=False, repr=False, compare=False)
    """Levels from this node down to its deepest operand; at most :data:`MAX_DEPTH`."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "depth", _depth_below(self, self.left, self.right))


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
    return expr.depth

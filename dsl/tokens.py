"""The controller's encoding of rules: groups of five tokens ``(op1, op2, u1, u2, b)``.

Group ``k`` computes :math:`b(u_1(op_1), u_2(op_2))`; its result becomes the extra operand ``h{k}``
that later groups may pick, and the last group is the rule (Bello et al. 2017, section 3).

One convention makes every tree expressible with a fixed number of groups: a group
``keep(u1(x), x)`` — keep-left whose right side repeats the left operand with the identity — is a
*pass-through* and decodes to ``u1(x)`` alone. It pads a rule to more groups (``keep(h0, h0)``) and
carries a unary or a lone operand at the root. A real ``keep`` node whose right side would look
like that filler is encoded with its right side in a group of its own, so decoding stays exact.

:func:`valid_tokens` is the pure masking function the environment and the controller share.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import cached_property
from typing import Optional, Sequence

from .expr import Binary, Expr, Operand, RuleTooDeepError, Unary
from .primitives import BINARIES, OPERANDS, SIGN_OPERANDS, UNARIES

GROUP_SIZE = 5
OPERAND_SLOTS = (0, 1)
UNARY_SLOTS = (2, 3)
BINARY_SLOT = 4

BASE_OPERAND_TOKENS: tuple[str, ...] = tuple(op.name for op in OPERANDS) + SIGN_OPERANDS
UNARY_TOKENS: tuple[str, ...] = tuple(u.name for u in UNARIES)
BINARY_TOKENS: tuple[str, ...] = tuple(b.name for b in BINARIES)
_BASE_OPERAND_SET = frozenset(BASE_OPERAND_TOKENS)
_UNARY_SET = frozenset(UNARY_TOKENS)
_BINARY_SET = frozenset(BINARY_TOKENS)

_SIGN_OPERAND_EXPR = {name: Unary("sign", Operand(name[5:-1])) for name in SIGN_OPERANDS}
_EXPR_OF_SIGN_OPERAND = {expr: name for name, expr in _SIGN_OPERAND_EXPR.items()}


def group_ref(index: int) -> str:
    """The token naming the result of group ``index``."""
    return f"h{index}"


def _parse_group_ref(token: str) -> Optional[int]:
    if len(token) > 1 and token[0] == "h" and token[1:].isdigit():
        return int(token[1:])
    return None


class TokenError(ValueError):
    """A token sequence is not a valid rule; the message names the position and the token."""


def valid_tokens(prefix: Sequence[str], groups: int) -> tuple[str, ...]:
    """The tokens allowed after ``prefix`` in an encoding of exactly ``groups`` groups.

    Operand slots accept the base operands and the results of earlier groups; unary slots the
    unary functions (``id`` included); the binary slot the binary functions. A complete prefix
    allows nothing.
    """
    position = len(prefix)
    if position >= groups * GROUP_SIZE:
        return ()
    group, slot = divmod(position, GROUP_SIZE)
    if slot in OPERAND_SLOTS:
        return BASE_OPERAND_TOKENS + tuple(group_ref(k) for k in range(group))
    if slot in UNARY_SLOTS:
        return UNARY_TOKENS
    return BINARY_TOKENS


@dataclass(frozen=True)
class Vocabulary:
    """A fixed numbering of every token of an encoding with ``groups`` groups (for action spaces)."""

    groups: int
    tokens: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        if self.groups < 1:
            raise ValueError(f"groups must be at least 1, got {self.groups}")
        refs = tuple(group_ref(k) for k in range(self.groups - 1))
        object.__setattr__(self, "tokens", BASE_OPERAND_TOKENS + refs + UNARY_TOKENS + BINARY_TOKENS)

    @cached_property
    def index(self) -> dict[str, int]:
        return {token: i for i, token in enumerate(self.tokens)}

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def length(self) -> int:
        """Tokens in one complete rule."""
        return self.groups * GROUP_SIZE

    def encode(self, tokens: Sequence[str]) -> list[int]:
        """Token names to ids."""
        try:
            return [self.index[t] for t in tokens]
        except KeyError as missing:
            raise TokenError(f"unknown token {missing.args[0]!r}") from None

    def decode(self, ids: Sequence[int]) -> list[str]:
        """Token ids to names."""
        return [self.tokens[int(i)] for i in ids]

    def mask(self, prefix: Sequence[str]) -> list[bool]:
        """A boolean per token id: whether it may follow ``prefix``."""
        allowed = set(valid_tokens(prefix, self.groups))
        return [token in allowed for token in self.tokens]


# ------------------------------------------------------------------------------------------------
# Decoding
# ------------------------------------------------------------------------------------------------
def from_tokens(tokens: Sequence[str]) -> Expr:
    """The rule a token sequence encodes (the last group's tree).

    Raises :class:`TokenError` naming the position and the token when the sequence is not a
    whole number of valid groups, or when it encodes a tree deeper than
    :data:`~optsearch.dsl.expr.MAX_DEPTH` levels (each group adds at most two levels).
    """
    tokens = list(tokens)
    if not tokens or len(tokens) % GROUP_SIZE:
        raise TokenError(
            f"a rule is a whole number of {GROUP_SIZE}-token groups; got {len(tokens)} tokens"
        )
    for position, token in enumerate(tokens):
        _check_token(token, position)
    results: list[Expr] = []
    for start in range(0, len(tokens), GROUP_SIZE):
        try:
            results.append(_decode_group(tokens[start : start + GROUP_SIZE], results))
        except RuleTooDeepError as error:
            group = start // GROUP_SIZE
            raise TokenError(f"{error} at group {group} (positions {start}-{start + GROUP_SIZE - 1})") from None
    return results[-1]


def _check_token(token: str, position: int) -> None:
    """Raise unless ``token`` may stand at ``position`` (as :func:`valid_tokens`, in constant time)."""
    group, slot = divmod(position, GROUP_SIZE)
    if not isinstance(token, str):
        valid = False
    elif slot in OPERAND_SLOTS:
        ref = _parse_group_ref(token)
        valid = token in _BASE_OPERAND_SET or (ref is not None and ref < group and token == group_ref(ref))
    else:
        valid = token in (_UNARY_SET if slot in UNARY_SLOTS else _BINARY_SET)
    if not valid:
        expected = ("an operand", "an operand", "a unary", "a unary", "a binary")[slot]
        raise TokenError(f"token {token!r} at position {position} (group {group}) is not {expected}")


def _decode_group(group: Sequence[str], results: list[Expr]) -> Expr:
    op1, op2, u1, u2, b = group
    left = _apply_unary(u1, _operand_expr(op1, results))
    if b == "keep" and op2 == op1 and u2 == "id":
        return left  # pass-through group
    right = _apply_unary(u2, _operand_expr(op2, results))
    return Binary(b, left, right)


def _operand_expr(token: str, results: list[Expr]) -> Expr:
    ref = _parse_group_ref(token)
    if ref is not None:
        return results[ref]
    if token in _SIGN_OPERAND_EXPR:
        return _SIGN_OPERAND_EXPR[token]
    return Operand(token)


def _apply_unary(name: str, expr: Expr) -> Expr:
    return expr if name == "id" else Unary(name, expr)


# ------------------------------------------------------------------------------------------------
# Encoding
# ------------------------------------------------------------------------------------------------
class _Encoder:
    """Lowers a tree into groups, sharing one group among equal subtrees."""

    def __init__(self) -> None:
        self.groups: list[tuple[str, str, str, str, str]] = []
        self.group_of: dict[Expr, int] = {}

    def operand_token(self, expr: Expr) -> Optional[str]:
        """The base-operand token for ``expr`` if it is one, else ``None``."""
        if isinstance(expr, Operand):
            return expr.name
        return _EXPR_OF_SIGN_OPERAND.get(expr)

    def slot(self, expr: Expr) -> tuple[str, str]:
        """``(operand token, unary token)`` that produce ``expr`` inside one group."""
        token = self.operand_token(expr)
        if token is not None:
            return token, "id"
        if isinstance(expr, Unary):
            inner = self.operand_token(expr.arg)
            if inner is not None:
                return inner, expr.fn
            return group_ref(self.emit(expr.arg)), expr.fn
        return group_ref(self.emit(expr)), "id"

    def emit(self, expr: Expr) -> int:
        """Encode ``expr`` as a group (or reuse the group of an equal subtree); its index."""
        if expr in self.group_of:
            return self.group_of[expr]
        if isinstance(expr, Binary):
            op1, u1 = self.slot(expr.left)
            op2, u2 = self.slot(expr.right)
            if expr.fn == "keep" and op2 == op1 and u2 == "id":
                # The right side would read as the pass-through filler: give it a group of its own.
                op2, u2 = group_ref(self.emit_pass_through(expr.right)), "id"
            group = (op1, op2, u1, u2, expr.fn)
        else:
            op1, u1 = self.slot(expr)
            group = (op1, op1, u1, "id", "keep")
        self.groups.append(group)
        self.group_of[expr] = len(self.groups) - 1
        return len(self.groups) - 1

    def emit_pass_through(self, expr: Expr) -> int:
        op, u = self.slot(expr)
        self.groups.append((op, op, u, "id", "keep"))
        return len(self.groups) - 1


def to_tokens(expr: Expr, groups: Optional[int] = None) -> list[str]:
    """Encode ``expr`` as groups of five tokens.

    ``groups=None`` gives the fewest groups that express the rule; an int gives exactly that many,
    padding with pass-through keep-left groups, and raises ``ValueError`` if the rule needs more.
    """
    encoder = _Encoder()
    root = encoder.emit(expr)
    if root != len(encoder.groups) - 1:  # the whole rule is a repeated subtree: impossible
        raise AssertionError("the root must be the last group")
    needed = len(encoder.groups)
    if groups is not None:
        if needed > groups:
            raise ValueError(f"rule {expr} needs {needed} groups; only {groups} allowed")
        for index in range(needed, groups):
            ref = group_ref(index - 1)
            encoder.groups.append((ref, ref, "id", "id", "keep"))
    return [token for group in encoder.groups for token in group]


def groups_needed(expr: Expr) -> int:
    """The fewest groups that express ``expr``."""
    return len(to_tokens(expr)) // GROUP_SIZE


def random_tokens(groups: int, rng: random.Random) -> list[str]:
    """A rule drawn uniformly token by token from the valid tokens at each position."""
    tokens: list[str] = []
    for _ in range(groups * GROUP_SIZE):
        tokens.append(rng.choice(valid_tokens(tokens, groups)))
    return tokens

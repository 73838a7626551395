"""Hypothesis strategies and shared helpers for the DSL tests.

Named ``dsl_strategies`` (not ``strategies``/``conftest``) so that pytest's default "prepend" import
mode never confuses it with a helper module of another test folder.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from optsearch.dsl import Binary, Operand, Unary
from optsearch.dsl.primitives import BINARIES, OPERANDS, UNARIES

OPERAND_NAMES: tuple[str, ...] = tuple(op.name for op in OPERANDS)
UNARY_NAMES: tuple[str, ...] = tuple(u.name for u in UNARIES if u.name != "id")
BINARY_NAMES: tuple[str, ...] = tuple(b.name for b in BINARIES)

RANDOM_OPERANDS = frozenset({"noise", "anoise"})
RANDOM_UNARIES = frozenset(name for name in UNARY_NAMES if name.startswith("drop"))
DETERMINISTIC_OPERAND_NAMES = tuple(n for n in OPERAND_NAMES if n not in RANDOM_OPERANDS)
DETERMINISTIC_UNARY_NAMES = tuple(n for n in UNARY_NAMES if n not in RANDOM_UNARIES)


def expr_strategy(
    operand_names: tuple[str, ...] = OPERAND_NAMES,
    unary_names: tuple[str, ...] = UNARY_NAMES,
    binary_names: tuple[str, ...] = BINARY_NAMES,
    max_leaves: int = 12,
) -> st.SearchStrategy:
    """Random trees over the language's primitives (``sign(g)`` is ``Unary("sign", Operand("g"))``)."""
    leaves = st.sampled_from(operand_names).map(Operand)

    def extend(children: st.SearchStrategy) -> st.SearchStrategy:
        return st.one_of(
            st.builds(Unary, st.sampled_from(unary_names), children),
            st.builds(Binary, st.sampled_from(binary_names), children, children),
        )

    return st.recursive(leaves, extend, max_leaves=max_leaves)


exprs = expr_strategy()
"""Any tree of the language."""

deterministic_exprs = expr_strategy(DETERMINISTIC_OPERAND_NAMES, DETERMINISTIC_UNARY_NAMES, max_leaves=8)
"""Trees without ``noise``, ``anoise`` or ``drop``: their update is a function of the inputs."""


FUZZ_SCALE = float(os.environ.get("DSL_FUZZ_SCALE", "1"))
"""Multiplies every property test's example count: ``DSL_FUZZ_SCALE=20 pytest tests/dsl`` fuzzes deeper."""


def fuzz_settings(max_examples: int) -> settings:
    """Settings for the property tests: no deadline (the machine is shared), no slow-data checks."""
    return settings(
        max_examples=max(1, int(max_examples * FUZZ_SCALE)),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


def random_expr(rng, max_depth: int = 6, operand_names=OPERAND_NAMES, unary_names=UNARY_NAMES):
    """A random tree from ``rng`` (a ``random.Random``): a cheap generator for bulk round trips."""
    roll = rng.random()
    if max_depth <= 1 or roll < 0.3:
        return Operand(rng.choice(operand_names))
    if roll < 0.55:
        return Unary(rng.choice(unary_names), random_expr(rng, max_depth - 1, operand_names, unary_names))
    return Binary(
        rng.choice(BINARY_NAMES),
        random_expr(rng, max_depth - 1, operand_names, unary_names),
        random_expr(rng, max_depth - 1, operand_names, unary_names),
    )

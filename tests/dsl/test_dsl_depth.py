"""The depth cap: no way of building a tree makes one deeper than MAX_DEPTH, and every tree that
can be made prints, parses, hashes, compares, normalises, encodes, compiles and fingerprints
without a RecursionError."""

from __future__ import annotations

import copy
import inspect
import pickle
import sys
import threading
import time

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from dsl_strategies import deterministic_exprs, exprs, fuzz_settings
from optsearch.cli import main
from optsearch.dsl import (
    MAX_DEPTH,
    NAMED_RULES,
    Binary,
    DSLOptimizer,
    Operand,
    ParseError,
    RuleTooDeepError,
    TokenError,
    Unary,
    canonical,
    compile_rule,
    fingerprint,
    from_tokens,
    parse,
    to_latex,
    to_tokens,
)
from optsearch.dsl.library import PAPER_TABLE
from optsearch.dsl.primitives import OPERANDS

g, m = Operand("g"), Operand("m")


def chain(make, depth: int):
    """A tree ``depth`` levels deep: ``make`` applied to ``g`` ``depth - 1`` times."""
    expr = g
    for _ in range(depth - 1):
        expr = make(expr)
    return expr


SHAPES = {
    "exp": lambda e: Unary("exp", e),
    "neg": lambda e: Unary("neg", e),  # prints as -(-(...)): two nestings a level
    "clip": lambda e: Unary("clip1e-4", e),
    "add-left": lambda e: Binary("add", e, m),
    "sub-right": lambda e: Binary("sub", m, e),
    "div-right": lambda e: Binary("div", g, e),
    "pow-left": lambda e: Binary("pow", e, m),
    "pow-right": lambda e: Binary("pow", m, e),
    "keep-right": lambda e: Binary("keep", m, e),
    "mul-neg": lambda e: Unary("neg", e) if e.depth % 2 else Binary("mul", g, e),  # g * (-(g * (-...
    "pow-neg": lambda e: Unary("neg", e) if e.depth % 2 else Binary("pow", g, e),  # g ^ (-(g ^ (-...
}


def check_everything_works(expr) -> None:
    """Every operation of the language on ``expr``, checked for its result."""
    text = str(expr)
    assert parse(text) == expr
    assert parse(text.replace(" ", "")) == expr
    twin = parse(text)
    assert twin is not expr and twin == expr and hash(twin) == hash(expr)
    assert expr != Binary("add", g, m)
    latex = to_latex(expr)
    assert latex.count("{") == latex.count("}")
    normal = canonical(expr)
    assert canonical(normal) == normal
    assert parse(str(normal)) == normal
    assert from_tokens(to_tokens(expr)) == expr
    assert len(fingerprint(expr)) == 16
    rule = compile_rule(expr)
    params = [torch.randn(4, dtype=torch.float64)]
    directions = rule.directions(params, [torch.randn(4, dtype=torch.float64)], rule.init_buffers(params), step=1)
    assert directions[0].shape == (4,)
    assert pickle.loads(pickle.dumps(expr)) == expr
    assert copy.deepcopy(expr).depth == expr.depth


# ------------------------------------------------------------------------------------------------
# Construction
# ------------------------------------------------------------------------------------------------
def test_nodes_know_their_depth():
    assert g.depth == 1
    assert Unary("exp", g).depth == 2
    assert Binary("add", Unary("exp", Unary("log", g)), m).depth == 4
    assert parse("exp(sign(g) * sign(m)) * g").depth == 5
    # the depth is bookkeeping: not part of equality, hashing or the repr
    assert repr(Unary("exp", g)) == "Unary(fn='exp', arg=Operand(name='g'))"


def test_the_cap_is_far_above_every_rule_in_use():
    deepest_named = max(parse(text).depth for text in NAMED_RULES.values())
    deepest_paper = max(parse(row.rule).depth for row in PAPER_TABLE)
    assert max(deepest_named, deepest_paper) <= 10 < MAX_DEPTH // 5


@fuzz_settings(300)
@given(exprs, deterministic_exprs)
def test_the_test_strategies_stay_far_below_the_cap(expr, deterministic):
    assert expr.depth <= MAX_DEPTH // 5 and deterministic.depth <= MAX_DEPTH // 5


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_constructing_past_the_cap_raises(shape):
    deepest = chain(SHAPES[shape], MAX_DEPTH)
    assert deepest.depth == MAX_DEPTH
    makers = (lambda: Unary("exp", deepest), lambda: Binary("add", g, deepest), lambda: Binary("pow", deepest, deepest))
    for too_deep in makers:
        with pytest.raises(RuleTooDeepError, match=f"nested deeper than {MAX_DEPTH} levels"):
            too_deep()
    assert issubclass(RuleTooDeepError, ValueError)


def test_sub_rules_must_be_trees():
    with pytest.raises(TypeError, match="Expr"):
        Unary("exp", "g")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Expr"):
        Binary("add", g, None)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------
# Everything works at the cap
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_every_operation_works_at_the_cap(shape):
    check_everything_works(chain(SHAPES[shape], MAX_DEPTH))


def test_every_operation_fits_a_small_recursion_budget_at_the_cap():
    # About three frames a level at most (comparing two trees): 4 * MAX_DEPTH frames above the
    # caller's stack are enough, whatever the recursion limit the caller has left.
    limit = sys.getrecursionlimit()
    trees = [chain(make, MAX_DEPTH) for make in SHAPES.values()]
    sys.setrecursionlimit(len(inspect.stack()) + 4 * MAX_DEPTH)
    try:
        for expr in trees:
            check_everything_works(expr)
    finally:
        sys.setrecursionlimit(limit)


def test_every_operation_works_at_the_cap_in_a_thread_with_a_small_stack():
    errors: list[BaseException] = []

    def work():
        try:
            for make in SHAPES.values():
                check_everything_works(chain(make, MAX_DEPTH))
        except BaseException as error:  # noqa: BLE001 - reported to the test's thread
            errors.append(error)

    old = threading.stack_size(256 * 1024)
    try:
        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
    finally:
        threading.stack_size(old)
    assert not errors, errors


def test_canonical_of_a_tree_whose_normal_form_would_be_too_deep_is_the_tree():
    # A balanced sum of 128 terms is 8 levels deep; its normal form, a chain, would be 128.
    terms = [Operand(op.name) for op in OPERANDS] * 8
    while len(terms) > 1:
        terms = [Binary("add", a, b) for a, b in zip(terms[::2], terms[1::2])] + terms[len(terms) // 2 * 2 :]
    balanced = terms[0]
    assert balanced.depth < 10
    assert canonical(balanced) == balanced
    assert canonical(canonical(balanced)) == canonical(balanced)
    # while a chain that fits is normalised as usual
    flat = parse(" + ".join(["m", "g"] * (MAX_DEPTH // 2)))
    assert canonical(flat) == parse(" + ".join(["g"] * (MAX_DEPTH // 2) + ["m"] * (MAX_DEPTH // 2)))


# ------------------------------------------------------------------------------------------------
# The parser, the token decoder and the entry points report a too-deep rule
# ------------------------------------------------------------------------------------------------
AUDIT_RULE = "+".join(["g"] * 1000)


def test_a_deep_flat_rule_is_a_parse_error_naming_the_position():
    with pytest.raises(ParseError) as info:
        parse(AUDIT_RULE)
    error = info.value
    assert error.message == f"rule is nested deeper than {MAX_DEPTH} levels"
    assert AUDIT_RULE[error.position] == "+"
    assert error.position == 2 * MAX_DEPTH - 1  # the operator that made level MAX_DEPTH + 1
    assert parse("+".join(["g"] * MAX_DEPTH)).depth == MAX_DEPTH


def test_a_deep_flat_rule_is_refused_by_the_optimizer_and_the_cli(capsys):
    with pytest.raises(ParseError, match="nested deeper"):
        DSLOptimizer([torch.nn.Parameter(torch.ones(2))], AUDIT_RULE)
    assert main(["export", AUDIT_RULE]) == 2
    assert "nested deeper" in capsys.readouterr().err
    assert main(["export", "+".join(["g"] * MAX_DEPTH)]) == 0


def chain_tokens(groups: int) -> list[str]:
    """``g + g + ...``: each group adds one level (group k is k + 2 levels deep)."""
    tokens = ["g", "g", "id", "id", "add"]
    for k in range(1, groups):
        tokens += [f"h{k - 1}", "g", "id", "id", "add"]
    return tokens


def test_from_tokens_refuses_a_too_deep_rule():
    assert from_tokens(chain_tokens(MAX_DEPTH - 1)).depth == MAX_DEPTH
    with pytest.raises(TokenError, match=rf"nested deeper than {MAX_DEPTH} levels at group {MAX_DEPTH - 1}"):
        from_tokens(chain_tokens(MAX_DEPTH))


@pytest.mark.slow
def test_long_inputs_are_read_in_linear_time():
    # A quadratic parser or decoder would take minutes of CPU here; both are linear (well under a
    # second). CPU time of this process, not wall time, so a busy machine does not fail it.
    started = time.process_time()
    with pytest.raises(ParseError, match="nested deeper"):
        parse("+".join(["g"] * 100_000))
    with pytest.raises(ParseError, match="nested deeper"):
        parse(" ^ ".join(["g"] * 100_000))  # right-associative: read to the end, then reduced
    with pytest.raises(ParseError, match="nested deeper"):
        parse("-" * 100_000 + "g")
    with pytest.raises(TokenError, match="nested deeper"):
        from_tokens(chain_tokens(20_000))
    assert time.process_time() - started < 60.0


# ------------------------------------------------------------------------------------------------
# Fuzzing deep flat rules: they parse below the cap, are a ParseError above it, and nothing else
# ------------------------------------------------------------------------------------------------
OPERAND_TEXTS = [op.text for op in OPERANDS] + ["sign(g)", "sign(m)", "exp(g)", "(g + m)"]
LEVELS = {"sum": ["+", "-"], "product": ["*", "/"], "power": ["^"]}


def joined(operands: list[str], operators: list[str], spaced: bool) -> str:
    gap = " " if spaced else ""
    parts = [operands[0]]
    for operator, operand in zip(operators, operands[1:]):
        parts += [gap + operator + gap, operand]
    return "".join(parts)


def flat_chains(symbols: list[str]):
    """(operands, operators, spaced): a chain of up to three times the cap of binary operators."""
    lengths = st.one_of(st.integers(0, MAX_DEPTH + 5), st.integers(MAX_DEPTH - 5, 3 * MAX_DEPTH))
    return lengths.flatmap(
        lambda n: st.tuples(
            st.lists(st.sampled_from(OPERAND_TEXTS), min_size=n + 1, max_size=n + 1),
            st.lists(st.sampled_from(symbols), min_size=n, max_size=n),
            st.booleans(),
        )
    )


@fuzz_settings(150)
@given(st.sampled_from(sorted(LEVELS)).flatmap(lambda level: flat_chains(LEVELS[level])))
@pytest.mark.slow
def test_fuzz_flat_chains_of_one_precedence(chain_parts):
    operands, operators, spaced = chain_parts
    text = joined(operands, operators, spaced)
    # one precedence level: every operator adds a level, and "(g + m)", "exp(g)", "sign(g)" add one more
    deepest_operand = max(1 if o not in ("exp(g)", "sign(g)", "sign(m)", "(g + m)") else 2 for o in operands)
    expected = len(operators) + 1 if deepest_operand == 1 else None
    try:
        expr = parse(text)
    except ParseError as error:
        assert error.message == f"rule is nested deeper than {MAX_DEPTH} levels"
        assert text[error.position] in "+-*/^"
        assert len(operators) + deepest_operand > MAX_DEPTH  # no chain that fits is refused
        return
    assert len(operators) + 1 <= expr.depth <= MAX_DEPTH  # each operator is a level of the spine
    if expected is not None:
        assert expr.depth == expected
    printed = str(expr)
    assert parse(printed) == expr and str(parse(printed)) == printed
    assert hash(parse(printed)) == hash(expr)
    assert canonical(canonical(expr)) == canonical(expr)


@fuzz_settings(150)
@given(flat_chains(["+", "-", "*", "/", "^"]), st.lists(st.integers(0, 3 * MAX_DEPTH), max_size=10))
@pytest.mark.slow
def test_fuzz_flat_chains_of_mixed_operators(chain_parts, negated):
    operands, operators, spaced = chain_parts
    for index in negated:  # some operands negated: "g * -m", "g ^ -m" are rules too
        if index < len(operands):
            operands[index] = "-" + operands[index]
    text = joined(operands, operators, spaced)
    try:
        expr = parse(text)
    except ParseError as error:
        assert error.message == f"rule is nested deeper than {MAX_DEPTH} levels"
        assert text[error.position] in "+-*/^"
        assert len(operators) + len(negated) + 2 > MAX_DEPTH  # shallower chains always parse
        return
    assert expr.depth <= MAX_DEPTH
    printed = str(expr)
    assert parse(printed) == expr
    assert str(to_latex(expr)).count("{") == str(to_latex(expr)).count("}")
    assert from_tokens(to_tokens(expr)) == expr

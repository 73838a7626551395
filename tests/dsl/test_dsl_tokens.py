"""The controller's encoding: groups of five tokens, masking, vocabularies, random rules."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dsl_strategies import exprs, fuzz_settings, random_expr
from optsearch.dsl import (
    GROUP_SIZE,
    NAMED_RULES,
    Binary,
    Operand,
    TokenError,
    Unary,
    Vocabulary,
    from_tokens,
    groups_needed,
    parse,
    random_tokens,
    to_tokens,
    valid_tokens,
)
from optsearch.dsl.tokens import BASE_OPERAND_TOKENS, BINARY_TOKENS, UNARY_TOKENS

g, m = Operand("g"), Operand("m")


def check_token_round_trip(expr) -> None:
    tokens = to_tokens(expr)
    assert len(tokens) % GROUP_SIZE == 0 and tokens
    assert from_tokens(tokens) == expr
    needed = len(tokens) // GROUP_SIZE
    assert groups_needed(expr) == needed
    for groups in (needed, needed + 1, needed + 3):
        padded = to_tokens(expr, groups=groups)
        assert len(padded) == GROUP_SIZE * groups
        assert from_tokens(padded) == expr
        for position, token in enumerate(padded):  # every encoding obeys the mask
            assert token in valid_tokens(padded[:position], groups)
    if needed > 1:
        with pytest.raises(ValueError):
            to_tokens(expr, groups=needed - 1)


@pytest.mark.parametrize("name", sorted(NAMED_RULES))
def test_named_rule_token_round_trip(name):
    check_token_round_trip(parse(NAMED_RULES[name]))


@fuzz_settings(500)
@given(exprs)
def test_random_tree_token_round_trip(expr):
    check_token_round_trip(expr)


def test_thousands_of_random_trees_token_round_trip():
    rng = random.Random(1)
    for _ in range(3000):
        expr = random_expr(rng)
        assert from_tokens(to_tokens(expr)) == expr, str(expr)


def test_powersign_encoding_is_the_papers():
    # exp(sign(g) * sign(m)) * g: one group for the exponent's product, one for exp(.) * g.
    assert to_tokens(parse("exp(sign(g) * sign(m)) * g")) == [
        "sign(g)", "sign(m)", "id", "id", "mul",
        "h0", "g", "exp", "id", "mul",
    ]
    assert to_tokens(parse("g + m")) == ["g", "m", "id", "id", "add"]
    assert to_tokens(parse("sign(g) * sign(m)")) == to_tokens(Binary("mul", Unary("sign", g), Unary("sign", m)))


def test_single_operand_and_unary_roots_use_the_pass_through():
    assert to_tokens(g) == ["g", "g", "id", "id", "keep"]
    assert to_tokens(Unary("exp", g)) == ["g", "g", "exp", "id", "keep"]
    assert from_tokens(["m", "m", "id", "id", "keep"]) == m
    assert from_tokens(["m", "m", "log", "id", "keep"]) == Unary("log", m)
    assert to_tokens(g, groups=3) == ["g", "g", "id", "id", "keep", "h0", "h0", "id", "id", "keep"] + [
        "h1", "h1", "id", "id", "keep"
    ]


@pytest.mark.parametrize(
    "expr",
    [
        Binary("keep", g, g),
        Binary("keep", Unary("exp", g), g),
        Binary("keep", Unary("sign", g), Unary("sign", g)),
        Binary("keep", Binary("add", g, m), Binary("add", g, m)),
        Binary("keep", Unary("neg", Binary("add", g, m)), Binary("add", g, m)),
        Binary("mul", Binary("keep", g, g), Binary("keep", g, g)),
        Unary("sign", Unary("sign", g)),
        Unary("exp", Unary("log", Binary("keep", m, m))),
    ],
)
def test_real_keep_nodes_that_look_like_the_filler_round_trip(expr):
    check_token_round_trip(expr)


def test_equal_subtrees_share_a_group():
    shared = parse("(g + m) * (g + m)")
    assert to_tokens(shared) == ["g", "m", "id", "id", "add", "h0", "h0", "id", "id", "mul"]


# ------------------------------------------------------------------------------------------------
# Masking and random rules
# ------------------------------------------------------------------------------------------------
def test_valid_tokens_per_slot():
    groups = 3
    assert valid_tokens([], groups) == BASE_OPERAND_TOKENS
    assert "sign(g)" in BASE_OPERAND_TOKENS and "sign(m)" in BASE_OPERAND_TOKENS
    assert valid_tokens(["g"], groups) == BASE_OPERAND_TOKENS
    assert valid_tokens(["g", "m"], groups) == UNARY_TOKENS
    assert valid_tokens(["g", "m", "id"], groups) == UNARY_TOKENS
    assert valid_tokens(["g", "m", "id", "id"], groups) == BINARY_TOKENS
    prefix = ["g", "m", "id", "id", "add"]
    assert valid_tokens(prefix, groups) == BASE_OPERAND_TOKENS + ("h0",)
    assert valid_tokens(prefix * 2, groups) == BASE_OPERAND_TOKENS + ("h0", "h1")
    assert valid_tokens(prefix * 3, groups) == ()


@pytest.mark.parametrize("groups", [1, 2, 3, 5, 8])
def test_random_tokens_decode_and_obey_the_mask(groups):
    for seed in range(150):
        tokens = random_tokens(groups, random.Random(seed))
        assert len(tokens) == GROUP_SIZE * groups
        for position, token in enumerate(tokens):
            assert token in valid_tokens(tokens[:position], groups)
        expr = from_tokens(tokens)
        # the decoded tree re-encodes into no more groups than it was drawn with
        assert from_tokens(to_tokens(expr, groups=max(groups, groups_needed(expr)))) == expr
        # re-encoding never needs more groups, except one per real keep(u(x), x) node
        assert groups_needed(expr) <= groups + str(expr).count("keep(")
        assert parse(str(expr)) == expr


def test_random_tokens_is_reproducible():
    assert random_tokens(4, random.Random(7)) == random_tokens(4, random.Random(7))
    assert len({tuple(random_tokens(4, random.Random(seed))) for seed in range(20)}) == 20


@pytest.mark.parametrize(
    "tokens, position",
    [
        (["g", "m", "id", "id", "foo"], 4),
        (["g", "m", "exp", "add", "add"], 3),
        (["g", "add", "id", "id", "add"], 1),
        (["h0", "m", "id", "id", "add"], 0),  # no earlier group to refer to
        (["g", "m", "id", "id", "add", "h1", "g", "id", "id", "mul"], 5),  # refers to itself
        (["g", "m", "id", "id", "add", "g", "m", "id", "sqrt", "pow"], None),  # valid
        (["g", "m", "id", "id", "add", "g", "m", "id", "id", "dvi"], 9),
    ],
)
def test_from_tokens_names_the_bad_position(tokens, position):
    if position is None:
        from_tokens(tokens)
        return
    with pytest.raises(TokenError) as info:
        from_tokens(tokens)
    assert f"position {position}" in str(info.value)
    assert repr(tokens[position]) in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("tokens", [[], ["g"], ["g", "m", "id", "id"], ["g", "m", "id", "id", "add", "g"]])
def test_from_tokens_rejects_partial_groups(tokens):
    with pytest.raises(TokenError, match="5-token groups"):
        from_tokens(tokens)


@fuzz_settings(300)
@given(st.lists(st.sampled_from(BASE_OPERAND_TOKENS + UNARY_TOKENS + BINARY_TOKENS + ("h0", "h1", "h9", "x")), max_size=20))
def test_from_tokens_only_raises_token_error(tokens):
    try:
        expr = from_tokens(tokens)
    except TokenError:
        return
    assert from_tokens(to_tokens(expr)) == expr


# ------------------------------------------------------------------------------------------------
# Vocabulary
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("groups", [1, 2, 4])
def test_vocabulary_is_consistent_with_valid_tokens(groups):
    vocabulary = Vocabulary(groups)
    assert len(vocabulary) == len(set(vocabulary.tokens))  # no token twice
    assert vocabulary.length == GROUP_SIZE * groups
    rng = random.Random(groups)
    for _ in range(30):
        tokens = random_tokens(groups, rng)
        ids = vocabulary.encode(tokens)
        assert all(isinstance(i, int) and 0 <= i < len(vocabulary) for i in ids)
        assert vocabulary.decode(ids) == tokens
        for position in range(len(tokens) + 1):
            prefix = tokens[:position]
            mask = vocabulary.mask(prefix)
            assert len(mask) == len(vocabulary)
            allowed = {vocabulary.tokens[i] for i, ok in enumerate(mask) if ok}
            assert allowed == set(valid_tokens(prefix, groups))
            if position < len(tokens):
                assert mask[ids[position]]
    assert not any(vocabulary.mask(tokens))  # a complete rule allows nothing more
    every_group_ref = {f"h{k}" for k in range(groups - 1)}
    assert every_group_ref <= set(vocabulary.tokens)
    assert f"h{groups - 1}" not in vocabulary.tokens


def test_vocabulary_errors():
    with pytest.raises(ValueError):
        Vocabulary(0)
    with pytest.raises(TokenError, match="unknown token 'nope'"):
        Vocabulary(2).encode(["g", "nope"])

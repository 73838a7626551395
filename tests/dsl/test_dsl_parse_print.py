"""Reading and printing rules: round trips, precedence, error messages, LaTeX, parser fuzzing."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dsl_strategies import exprs, fuzz_settings, random_expr
from optsearch.dsl import NAMED_RULES, Binary, Operand, ParseError, Unary, parse, to_latex, to_text
from optsearch.dsl.library import PAPER_TABLE
from optsearch.dsl.expr import MAX_DEPTH
from optsearch.dsl.parser import MAX_NESTING

g, m, v = Operand("g"), Operand("m"), Operand("v")


def sign(x):
    return Unary("sign", x)


# ------------------------------------------------------------------------------------------------
# Round trips
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(NAMED_RULES))
def test_named_rule_text_round_trip(name):
    expr = parse(NAMED_RULES[name])
    assert parse(str(expr)) == expr
    assert str(parse(str(expr))) == str(expr)
    assert to_text(expr) == str(expr)


def test_paper_table_rules_print_as_written():
    # The table's rules are written in the printer's own style, so printing is the identity on them.
    for row in PAPER_TABLE:
        assert str(parse(row.rule)) == row.rule


def test_thousands_of_random_trees_text_round_trip():
    rng = random.Random(2017)
    for _ in range(4000):
        expr = random_expr(rng)
        assert parse(str(expr)) == expr, str(expr)


@fuzz_settings(500)
@given(exprs)
def test_random_tree_text_round_trip(expr):
    text = str(expr)
    assert parse(text) == expr
    assert str(parse(text)) == text  # printing is stable


@fuzz_settings(300)
@given(exprs)
def test_whitespace_is_insignificant(expr):
    text = str(expr)
    assert parse(text.replace(" ", "")) == expr
    assert parse("  " + text.replace(" ", "   ") + "\n\t") == expr


# ------------------------------------------------------------------------------------------------
# Precedence and associativity
# ------------------------------------------------------------------------------------------------
def test_power_binds_tighter_than_product():
    expr = parse("2 ^ (sign(g) * sign(m)) * g")
    assert expr == Binary("mul", Binary("pow", Operand("2"), Binary("mul", sign(g), sign(m))), g)


def test_negation_is_looser_than_power():
    assert parse("-g ^ 2") == Unary("neg", Binary("pow", g, Operand("2")))
    assert parse("(-g) ^ 2") == Binary("pow", Unary("neg", g), Operand("2"))
    assert str(Binary("pow", Unary("neg", g), Operand("2"))) == "(-g) ^ 2"


def test_negation_is_tighter_than_product():
    assert parse("-g * m") == Binary("mul", Unary("neg", g), m)
    assert parse("-(g * m)") == Unary("neg", Binary("mul", g, m))


def test_subtraction_and_division_are_left_associative():
    assert parse("g - m - v") == Binary("sub", Binary("sub", g, m), v)
    assert parse("g / m / v") == Binary("div", Binary("div", g, m), v)
    assert str(Binary("sub", g, Binary("sub", m, v))) == "g - (m - v)"
    assert str(Binary("div", g, Binary("mul", m, v))) == "g / (m * v)"


def test_power_is_right_associative():
    assert parse("g ^ m ^ v") == Binary("pow", g, Binary("pow", m, v))
    assert parse("(g ^ m) ^ v") == Binary("pow", Binary("pow", g, m), v)
    assert str(Binary("pow", Binary("pow", g, m), v)) == "(g ^ m) ^ v"
    assert str(Binary("pow", g, Binary("pow", m, v))) == "g ^ m ^ v"
    assert parse("g ^ -m") == Binary("pow", g, Unary("neg", m))


def test_weight_term():
    assert parse("g + 1e-3 * w") == Binary("add", g, Operand("1e-3*w"))
    assert parse("1e-4*w*g") == Binary("mul", Operand("1e-4*w"), g)
    assert parse("g * (1e-2 * w)") == Binary("mul", g, Operand("1e-2*w"))
    assert parse("0.1 * w") == Operand("1e-1*w")
    assert str(Operand("1e-3*w")) == "1e-3 * w"
    assert str(Binary("mul", g, Operand("1e-3*w"))) == "g * (1e-3 * w)"
    assert str(Binary("pow", Operand("1e-3*w"), g)) == "(1e-3 * w) ^ g"
    assert str(Unary("neg", Operand("1e-3*w"))) == "-(1e-3 * w)"


def test_functions_and_constants():
    assert parse("clip(g, 1e-4)") == Unary("clip1e-4", g)
    assert parse("clip(g, 0.00001)") == Unary("clip1e-5", g)
    assert parse("drop(m, 0.3)") == Unary("drop0.3", m)
    assert parse("keep(g, m)") == Binary("keep", g, m)
    assert parse("sqrt(log(exp(g)))") == Unary("sqrt", Unary("log", Unary("exp", g)))
    assert parse("2.0 + 1") == Binary("add", Operand("2"), Operand("1"))
    assert parse("sign(g)") == sign(g)  # the controller's sign(g) operand is the unary sign of g
    assert str(Unary("drop0.1", g)) == "drop(g, 0.1)"
    assert str(Unary("clip1e-3", g)) == "clip(g, 1e-3)"


# ------------------------------------------------------------------------------------------------
# LaTeX
# ------------------------------------------------------------------------------------------------
def test_latex_of_powersign_exponent():
    assert to_latex(parse("exp(sign(g) * sign(m))")) == r"e^{\text{sign}(g)\,\text{sign}(\hat m)}"


@pytest.mark.parametrize(
    "text, latex",
    [
        ("exp(sign(g) * sign(m)) * g", r"e^{\text{sign}(g)\,\text{sign}(\hat m)}\,g"),
        ("m / (sqrt(v) + 1)", r"\frac{\hat m}{\sqrt{|\hat v|} + 1}"),
        ("(g + m) * v", r"\left(g + \hat m\right)\,\hat v"),
        ("(-g) ^ 2", r"\left(-g\right)^{2}"),
        ("-(g + m)", r"-\left(g + \hat m\right)"),
        ("clip(g, 1e-4) + 1e-3 * w", r"\text{clip}(g, 10^{-4}) + 10^{-3} w"),
        ("g * 2", r"g \cdot 2"),
        ("keep(g, m)", r"\text{keep}(g, \hat m)"),
        ("log(g2)", r"\log|g^2|"),
    ],
)
def test_latex(text, latex):
    assert to_latex(parse(text)) == latex


@fuzz_settings(200)
@given(exprs)
def test_latex_is_balanced(expr):
    latex = to_latex(expr)
    assert latex.count("{") == latex.count("}")
    assert latex.count(r"\left(") == latex.count(r"\right)")


# ------------------------------------------------------------------------------------------------
# Errors
# ------------------------------------------------------------------------------------------------
def parse_error(text: str) -> ParseError:
    with pytest.raises(ParseError) as info:
        parse(text)
    error = info.value
    assert isinstance(error, ValueError)
    assert f"at position {error.position}" in str(error)
    assert 0 <= error.position <= len(text)
    return error


def test_clip_bound_error_names_the_allowed_bounds_and_position():
    error = parse_error("clip(g, 7)")
    assert "clip bound must be one of 1e-5, 1e-4, 1e-3" in str(error)
    assert error.position == 8
    assert "at position 8" in str(error)


def test_drop_rate_error():
    error = parse_error("drop(g, 0.2)")
    assert "drop rate must be one of 0.1, 0.3, 0.5" in str(error)
    assert error.position == 8
    assert parse_error("clip(g, m)").position == 8  # the bound must be a number


@pytest.mark.parametrize(
    "text, position, fragment",
    [
        ("", 0, "empty rule"),
        ("   ", 3, "empty rule"),
        ("foo", 0, "unknown name 'foo'"),
        ("g + bar(m)", 4, "unknown name 'bar'"),
        ("(g + m", 6, "expected ')'"),
        ("exp(g", 5, "expected ')'"),
        ("w", 0, "weights appear only scaled"),
        ("g * w", 4, "weights appear only scaled"),
        ("3 * g", 0, "constant 3 is not in the language"),
        ("g + 0.5", 4, "constant 0.5 is not in the language"),
        ("1e-3 * g", 0, "may only appear as the weight term"),
        ("1e-5 * w", 0, "constant 1e-5 is not in the language"),
        ("g m", 2, "unexpected 'm'"),
        ("g +", 3, "unexpected end of text"),
        ("g $ m", 2, "unexpected character '$'"),
        ("g(m)", 1, "'g' is an operand, not a function"),
        ("exp g", 4, "expected '('"),
        ("keep(g)", 6, "expected ','"),
        (")", 0, "unexpected ')'"),
    ],
)
def test_parse_errors_name_the_position(text, position, fragment):
    error = parse_error(text)
    assert error.position == position, str(error)
    assert fragment in str(error)


def nested(depth: int) -> list[str]:
    """Texts whose trees are exactly ``depth`` levels deep, nested every way the grammar allows."""
    levels = depth - 1
    return [
        "exp(" * levels + "g" + ")" * levels,
        "keep(" * levels + "g" + ", m)" * levels,
        "-" * levels + "g",
        "g ^ " * levels + "g",
        "(" * levels + "g" + ")" * levels + " + m" * levels,
    ]


def test_deep_nesting_is_a_parse_error_not_a_crash():
    for text in nested(MAX_DEPTH):  # the documented limit parses
        assert parse(text).depth == MAX_DEPTH
    for depth in (MAX_DEPTH + 1, 250, 2000):
        for text in nested(depth):
            assert f"nested deeper than {MAX_DEPTH} levels" in str(parse_error(text))


def test_brackets_are_limited_to_max_nesting():
    assert parse("(" * MAX_NESTING + "g" + ")" * MAX_NESTING) == g  # brackets add no level to the tree
    for depth in (MAX_NESTING + 1, 5000):
        error = parse_error("(" * depth + "g" + ")" * depth)
        assert f"nested deeper than {MAX_NESTING} levels" in str(error)
        assert error.position == MAX_NESTING  # the first bracket too many


def test_parse_rejects_non_strings():
    with pytest.raises(TypeError):
        parse(42)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------
# Fuzzing: only ParseError, ever
# ------------------------------------------------------------------------------------------------
FRAGMENTS = [
    "g", "m", "v", "y", "g2", "g3", "adam", "rmsprop", "noise", "anoise", "ld", "cd", "rd", "w",
    "1", "2", "0", "3", "7", ".", "e", "E", "e-", "1e-4", "1e-3", "1e-5", "0.1", "0.3", "1e999",
    "(", ")", "((", "))", "*", "/", "+", "-", "^", ",", " ", "  ",
    "exp(", "log(", "sqrt(", "sign(", "clip(", "drop(", "keep(", ", 1e-4", ", 0.3", ", g",
    "1e-3 * w", "1e-3 *", "* w", "sign(g)", "sign(m)", "x", "_", "é", "\n", "\x00",
]


def check_parse_only_raises_parse_error(text: str) -> None:
    try:
        expr = parse(text)
    except ParseError as error:
        assert f"at position {error.position}" in str(error)
        assert 0 <= error.position <= len(text)
    else:
        # Whatever parses prints to text that parses back to the same tree.
        assert parse(str(expr)) == expr


@fuzz_settings(800)
@given(st.text())
def test_parse_fuzz_arbitrary_text(text):
    check_parse_only_raises_parse_error(text)


@fuzz_settings(800)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=40))
def test_parse_fuzz_grammar_fragments(fragments):
    check_parse_only_raises_parse_error("".join(fragments))


@fuzz_settings(300)
@given(exprs, st.integers(min_value=0, max_value=10_000), st.sampled_from(FRAGMENTS))
def test_parse_fuzz_mutated_rules(expr, where, fragment):
    text = str(expr)
    where %= len(text) + 1
    check_parse_only_raises_parse_error(text[:where] + fragment + text[where:])
    check_parse_only_raises_parse_error(text[:where] + text[where + 1 :])

"""Protected math stays protected in float16 and bfloat16, and is unchanged in float32 and float64.

δ = 1e-8 is 0 in float16 and e^80 is inf there (its largest number is 65504): the protections
follow the dtype (δ at least its smallest normal number, exp clamped at ln(max) − 1).
"""

from __future__ import annotations

import math

import pytest
import torch

from optsearch.dsl import DSLOptimizer, RuleConfig, compile_rule, parse
from optsearch.dsl.compiler import protections
from optsearch.dsl.primitives import (
    BINARIES,
    BINARY_BY_NAME,
    DELTA,
    EXP_MAX,
    UNARIES,
    UNARY_BY_NAME,
    exp_limit,
    safe_delta,
)

HALF = [torch.float16, torch.bfloat16]
HALF_IDS = ["float16", "bfloat16"]

UNARY_GRID = [0.0, -0.0, 1e-7, -1e-7, 1e-4, -1e-4, 1.0, -1.0, 80.0, 100.0, -100.0, 1000.0, 30000.0, -30000.0]
"""Zeros, subnormals, tiny, ordinary and huge float16 values (small enough for drop's factor 2)."""

BINARY_GRID = [0.0, -0.0, 1e-7, -1e-7, 1e-4, -1e-4, 0.5, -0.5, 1.0, -1.0, 3.0, -3.0]
"""Pairs of these stay finite: the largest quotient is 3 / δ = 49 152 < 65 504 in float16."""

WIDE_GRID = BINARY_GRID + [80.0, -100.0, 1000.0, 60000.0, -60000.0]
"""Products and quotients of these may overflow float16, but never give NaN."""


def grid(values, dtype):
    return torch.tensor(values, dtype=dtype)


def pairs(values, dtype):
    x = grid(values, dtype)
    return x.repeat_interleave(len(values)), x.repeat(len(values))


# ------------------------------------------------------------------------------------------------
# The rule for the constants
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_wide_dtypes_keep_the_configured_constants_exactly(dtype):
    assert safe_delta(DELTA, dtype) == DELTA
    assert exp_limit(dtype) == EXP_MAX
    assert protections(frozenset({dtype}), DELTA, 1e-8) == protections(frozenset({dtype}), DELTA, 1e-8)
    limits = protections(frozenset({dtype}), 1e-3, 1e-8)
    assert (limits.delta, limits.eps, limits.exp_max) == (1e-3, 1e-8, EXP_MAX)


def test_float16_constants_fit_float16():
    finfo = torch.finfo(torch.float16)
    delta = safe_delta(DELTA, torch.float16)
    assert delta == finfo.tiny and torch.tensor(delta, dtype=torch.float16).item() == delta  # a normal number
    assert safe_delta(1e-3, torch.float16) == 1e-3  # a δ the dtype can hold is kept
    limit = exp_limit(torch.float16)
    assert limit == pytest.approx(math.log(finfo.max) - 1)
    assert math.isfinite(torch.exp(torch.tensor(limit, dtype=torch.float16)).item())
    mixed = protections(frozenset({torch.float16, torch.float32}), DELTA, 1e-8)
    assert (mixed.delta, mixed.eps, mixed.exp_max) == (delta, delta, limit)  # the narrowest dtype's


# ------------------------------------------------------------------------------------------------
# The reference primitives
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", HALF, ids=HALF_IDS)
@pytest.mark.parametrize("spec", UNARIES, ids=lambda s: s.name)
def test_unary_is_finite_in_half_precision(spec, dtype):
    x = grid(UNARY_GRID, dtype)
    out = spec.fn(x, generator=torch.Generator().manual_seed(0))
    assert out.dtype == dtype
    assert torch.isfinite(out).all(), f"{spec.name}: {out}"


@pytest.mark.parametrize("dtype", HALF, ids=HALF_IDS)
@pytest.mark.parametrize("spec", BINARIES, ids=lambda s: s.name)
def test_binary_is_finite_in_half_precision(spec, dtype):
    x, y = pairs(BINARY_GRID, dtype)
    out = spec.fn(x, y)
    assert out.dtype == dtype
    bad = ~torch.isfinite(out)
    assert not bad.any(), f"{spec.name}: {list(zip(x[bad].tolist(), y[bad].tolist(), out[bad].tolist()))}"


@pytest.mark.parametrize("dtype", HALF, ids=HALF_IDS)
@pytest.mark.parametrize("spec", BINARIES, ids=lambda s: s.name)
def test_binary_never_gives_nan_in_half_precision(spec, dtype):
    x, y = pairs(WIDE_GRID, dtype)
    assert not torch.isnan(spec.fn(x, y)).any(), spec.name


def test_float16_protections_at_the_singularities():
    zero = torch.zeros(1, dtype=torch.float16)
    one = torch.ones(1, dtype=torch.float16)
    delta = safe_delta(DELTA, torch.float16)
    assert UNARY_BY_NAME["log"].fn(zero).item() == pytest.approx(math.log(delta), rel=1e-3)
    assert BINARY_BY_NAME["div"].fn(one, zero).item() == pytest.approx(1 / delta, rel=1e-3)
    assert BINARY_BY_NAME["div"].fn(zero, zero).item() == 0.0
    assert UNARY_BY_NAME["exp"].fn(torch.full((1,), 1e4, dtype=torch.float16)).item() < torch.finfo(torch.float16).max
    assert BINARY_BY_NAME["pow"].fn(zero, -one).item() < torch.finfo(torch.float16).max  # 0 ^ -1


# ------------------------------------------------------------------------------------------------
# DSLOptimizer on half-precision parameters
# ------------------------------------------------------------------------------------------------
ADVERSARIAL_RULES = [
    "g / (g - g)",
    "log(g - g)",
    "exp(g2 / (g - g))",
    "exp(2 * 2 * 2 * 2 * 2 * 2) * g",  # e^64, a scalar: clamped for the parameters' dtype
    "g ^ 2",
    "2 ^ (g / (g - g))",
    "(g - g) ^ (-g)",
    "(g - g) ^ (g - g)",
    "g ^ (g - g)",
    "sqrt(g - g) / (g - g)",
    "log(g - g) ^ g",
    "exp(g / (g - g))",
    "m / (g - g)",
    "y / (v - v)",
    "m / sqrt(v)",
    "g / sqrt(g2 - g2)",
    "noise / (g - g)",  # unscaled draws / δ could overflow: float16 applies lazy scales first
    "1e-4 * w / (g - g)",
    "log(1 - 1) * g",
    "g / (1 - 1)",
    "(1 - 1) ^ (-2) * g",
    "2 ^ (1 / (1 - 1)) * g",
    "adam",
    "rmsprop",
    "powersign",
    "paper-07",
]
def _call(unary, argument: str) -> str:
    return f"{unary.text}({argument})" if unary.param_text is None else f"{unary.text}({argument}, {unary.param_text})"


PRIMITIVE_RULES = (
    [_call(u, argument) for u in UNARIES if u.text not in ("", "-") for argument in ("g - g", "g / (g - g)")]
    + ["-(g / (g - g))"]
    + [
        f"keep({x}, {y})" if b.symbol is None else f"({x}) {b.symbol} ({y})"
        for b in BINARIES
        for x, y in (("g", "g - g"), ("g - g", "g"), ("g - g", "g - g"), ("m", "v - v"), ("g", "g"))
    ]
)


def half_gradients(shape, dtype, generator):
    """Gradients in [-1, 1] with exact zeros and float16 subnormals among them."""
    grads = torch.randn(shape, generator=generator).clamp(-1.0, 1.0)
    grads[:3] = 0.0
    grads[3:5] = 1e-7
    grads[5] = -1.0
    return grads.to(dtype)


@pytest.mark.parametrize("dtype", HALF, ids=HALF_IDS)
@pytest.mark.parametrize("rule", ADVERSARIAL_RULES + PRIMITIVE_RULES)
def test_half_precision_parameters_stay_finite(rule, dtype):
    generator = torch.Generator().manual_seed(0)
    weights = torch.nn.Parameter(torch.randn(64, generator=generator).mul(0.1).to(dtype))
    matrix = torch.nn.Parameter(torch.randn(4, 8, generator=generator).mul(0.1).to(dtype))
    optimizer = DSLOptimizer([weights, matrix], rule, lr=1e-3, total_steps=10, seed=0)
    for step in range(5):  # one step, then several
        weights.grad = half_gradients(64, dtype, generator)
        matrix.grad = half_gradients(32, dtype, generator).view(4, 8)
        optimizer.step()
        for p in (weights, matrix):
            assert p.dtype == dtype
            assert torch.isfinite(p).all(), f"{rule} ({dtype}) after step {step + 1}: {p}"


@pytest.mark.parametrize("dtype", HALF, ids=HALF_IDS)
@pytest.mark.parametrize(
    "rule",
    ["log(g - g) * g", "clip(g / (g - g), 1e-3)", "exp(log(g - g)) * g", "sqrt(g - g) / (g - g)",
     "adam", "rmsprop", "1e-4 * w / (g - g) + noise / (m - m)"],
)
def test_half_precision_training_of_a_small_net_stays_finite(rule, dtype):
    # Real gradients (many exactly zero for the dead units), rules that divide by zero on purpose.
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1)).to(dtype)
    x = torch.randn(32, 6).to(dtype)
    y = torch.sin(x.float().sum(dim=1, keepdim=True)).to(dtype)
    optimizer = DSLOptimizer(model.parameters(), rule, lr=1e-3, seed=0)
    for _ in range(5):
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()
        assert all(torch.isfinite(p).all() for p in model.parameters()), rule


def test_half_precision_follows_float32_where_no_protection_triggers():
    # Away from the singularities the protections do not show: float16 tracks float32.
    expr = parse("exp(sign(g) * sign(m)) * g + log(g2) * 1e-3 * w / (v + 1)")
    generator = torch.Generator().manual_seed(1)
    params = [torch.randn(50, generator=generator)]
    grads = [torch.randn(50, generator=generator).clamp(-1, 1).add(2.0)]  # well away from 0
    outputs = {}
    for dtype in (torch.float32, torch.float16):
        rule = compile_rule(expr, RuleConfig())
        p, gr = [t.to(dtype) for t in params], [t.to(dtype) for t in grads]
        outputs[dtype] = rule.directions(p, gr, rule.init_buffers(p), step=1)[0].float()
    torch.testing.assert_close(outputs[torch.float16], outputs[torch.float32], rtol=1e-2, atol=1e-3)

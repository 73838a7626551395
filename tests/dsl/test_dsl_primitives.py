"""Every primitive is finite on zeros, negatives, tiny and huge values, and its protections hold."""

from __future__ import annotations

import math

import pytest
import torch

from optsearch.dsl import Operand, parse
from optsearch.dsl.primitives import (
    BINARIES,
    BINARY_BY_NAME,
    DELTA,
    EXP_MAX,
    OPERAND_BY_NAME,
    OPERANDS,
    UNARIES,
    UNARY_BY_NAME,
    away_from_zero,
    dropout_mask,
)

GRID = [0.0, -0.0, 1e-12, -1e-12, 1.0, -1.0, 1e6, -1e6, 80.0, 100.0]
"""Zeros, negatives, tiny and large values: every primitive is finite on all of it (pairs for binaries)."""

WIDE_GRID = GRID + [1e-30, -1e-30, 0.5, -2.0, 88.0, -100.0, 1e30, -1e30]
"""Also values whose products or quotients overflow float32: there only NaN is ruled out."""


def grid(dtype=torch.float32, values=GRID) -> torch.Tensor:
    return torch.tensor(values, dtype=dtype)


def pairs(dtype=torch.float32, values=GRID) -> tuple[torch.Tensor, torch.Tensor]:
    x = grid(dtype, values)
    return x.repeat_interleave(len(values)), x.repeat(len(values))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("spec", UNARIES, ids=lambda s: s.name)
def test_unary_is_finite_everywhere(spec, dtype):
    for values in (GRID, WIDE_GRID):
        x = grid(dtype, values)
        out = spec.fn(x, generator=torch.Generator().manual_seed(0))
        assert out.shape == x.shape and out.dtype == dtype
        assert torch.isfinite(out).all(), f"{spec.name}: {out}"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("spec", BINARIES, ids=lambda s: s.name)
def test_binary_is_finite_on_every_pair(spec, dtype):
    x, y = pairs(dtype)
    out = spec.fn(x, y)
    assert out.shape == x.shape and out.dtype == dtype
    assert torch.isfinite(out).all(), f"{spec.name}: {[(a, b, c) for a, b, c in zip(x.tolist(), y.tolist(), out.tolist())]}"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("spec", BINARIES, ids=lambda s: s.name)
def test_binary_never_gives_nan_even_where_it_overflows(spec, dtype):
    x, y = pairs(dtype, WIDE_GRID)
    out = spec.fn(x, y)
    assert not torch.isnan(out).any(), spec.name
    if dtype == torch.float64:  # nothing on the wide grid overflows float64
        assert torch.isfinite(out).all(), spec.name


def test_protected_log():
    log = UNARY_BY_NAME["log"].fn
    x = grid(torch.float64, WIDE_GRID)
    assert torch.equal(log(x), torch.log(x.abs() + DELTA))
    assert log(torch.tensor([0.0], dtype=torch.float64)).item() == pytest.approx(math.log(DELTA))
    assert torch.equal(log(-x), log(x))


def test_protected_sqrt():
    sqrt = UNARY_BY_NAME["sqrt"].fn
    x = grid(torch.float64, WIDE_GRID)
    assert torch.equal(sqrt(x), torch.sqrt(x.abs()))
    assert sqrt(torch.tensor([-4.0])).item() == 2.0


def test_protected_exp_clamps_at_80():
    exp = UNARY_BY_NAME["exp"].fn
    x = grid(torch.float32, WIDE_GRID)
    assert torch.equal(exp(x), torch.exp(torch.clamp(x, max=EXP_MAX)))
    assert exp(torch.tensor([1000.0])).item() == pytest.approx(math.exp(EXP_MAX), rel=1e-6)
    assert exp(torch.tensor([1.0], dtype=torch.float64)).item() == pytest.approx(math.e, rel=1e-15)
    assert EXP_MAX < math.log(torch.finfo(torch.float32).max)  # e^80 fits a float32


def test_protected_division_pushes_delta_away_from_zero():
    div = BINARY_BY_NAME["div"].fn
    x, y = pairs(torch.float64, WIDE_GRID)
    out = div(x, y)
    denominator = torch.where(y < 0, y - DELTA, y + DELTA)
    assert torch.equal(out, x / denominator)
    assert (away_from_zero(y, DELTA).abs() >= DELTA).all()
    one = torch.ones(1, dtype=torch.float64)
    assert div(one, torch.zeros(1, dtype=torch.float64)).item() == pytest.approx(1 / DELTA)
    assert div(one, -torch.full((1,), DELTA / 2, dtype=torch.float64)).item() == pytest.approx(-1 / (1.5 * DELTA))
    assert div(one, torch.full((1,), DELTA / 2, dtype=torch.float64)).item() == pytest.approx(1 / (1.5 * DELTA))
    # never closer to zero than delta: no division by (y + delta) = 0 at y = -delta
    assert div(one, -torch.full((1,), DELTA, dtype=torch.float64)).item() == pytest.approx(-1 / (2 * DELTA))


def test_protected_power_is_the_odd_extension():
    power = BINARY_BY_NAME["pow"].fn
    x, y = pairs(torch.float64, WIDE_GRID)
    out = power(x, y)
    magnitude = torch.exp(torch.clamp(y * torch.log(x.abs() + DELTA), max=EXP_MAX))
    assert torch.equal(out, torch.where(x < 0, -magnitude, magnitude))
    assert torch.equal(torch.signbit(out), x < 0)  # the sign of the base (-0.0 where it underflows)
    two, three = torch.tensor([2.0], dtype=torch.float64), torch.tensor([3.0], dtype=torch.float64)
    assert power(two, three).item() == pytest.approx(8.0, rel=1e-7)
    assert power(-two, three).item() == pytest.approx(-8.0, rel=1e-7)
    assert power(-two, two).item() == pytest.approx(-4.0, rel=1e-7)  # odd extension, not (-2)^2
    assert power(-two, torch.tensor([0.5], dtype=torch.float64)).item() == pytest.approx(-math.sqrt(2), rel=1e-7)
    assert power(two, torch.tensor([1e4], dtype=torch.float64)).item() == pytest.approx(math.exp(EXP_MAX))


def test_other_primitives():
    x = grid(torch.float64, WIDE_GRID)
    y = torch.flip(x, [0])
    assert torch.equal(BINARY_BY_NAME["add"].fn(x, y), x + y)
    assert torch.equal(BINARY_BY_NAME["sub"].fn(x, y), x - y)
    assert torch.equal(BINARY_BY_NAME["mul"].fn(x, y), x * y)
    assert torch.equal(BINARY_BY_NAME["keep"].fn(x, y), x)
    assert torch.equal(UNARY_BY_NAME["neg"].fn(x), -x)
    assert torch.equal(UNARY_BY_NAME["id"].fn(x), x)
    assert set(UNARY_BY_NAME["sign"].fn(x).tolist()) == {-1.0, 0.0, 1.0}
    for c in ("1e-5", "1e-4", "1e-3"):
        clipped = UNARY_BY_NAME[f"clip{c}"].fn(x)
        assert clipped.abs().max().item() == float(c)
        assert torch.equal(clipped, x.clamp(-float(c), float(c)))


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5])
def test_drop_is_inverted_dropout(p):
    drop = UNARY_BY_NAME[f"drop{p}"].fn
    x = torch.ones(200_000, dtype=torch.float64)
    out = drop(x, generator=torch.Generator().manual_seed(3))
    survivors = out != 0
    assert torch.allclose(out[survivors], torch.full_like(out[survivors], 1 / (1 - p)))
    assert survivors.double().mean().item() == pytest.approx(1 - p, abs=0.005)
    assert out.mean().item() == pytest.approx(1.0, abs=0.01)  # unbiased
    again = drop(x, generator=torch.Generator().manual_seed(3))
    assert torch.equal(out, again)  # reproducible under a fixed generator
    mask = dropout_mask(x, p, torch.Generator().manual_seed(3))
    assert torch.equal(x * mask, out)


def test_vocabulary_is_the_papers():
    assert len({op.name for op in OPERANDS}) == len(OPERANDS)
    assert {"g", "g2", "g3", "m", "v", "y", "1", "2", "noise", "anoise", "adam", "rmsprop", "ld", "cd", "rd"} <= set(
        OPERAND_BY_NAME
    )
    assert {"1e-4*w", "1e-3*w", "1e-2*w", "1e-1*w"} <= set(OPERAND_BY_NAME)
    assert {u.name for u in UNARIES} == {
        "id", "neg", "exp", "log", "sqrt", "clip1e-5", "clip1e-4", "clip1e-3", "drop0.1", "drop0.3", "drop0.5", "sign"
    }
    assert {b.name for b in BINARIES} == {"add", "sub", "mul", "div", "pow", "keep"}
    for op in OPERANDS:  # every operand's text parses back to it
        assert parse(op.text) == Operand(op.name)
    for spec in list(UNARIES) + list(BINARIES):
        assert spec.doc  # each primitive documents itself

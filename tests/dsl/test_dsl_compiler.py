"""The compiled rules compute what the naive reference interpreter computes."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from dsl_reference import ReferenceRule, cosine_decay, linear_decay, restart_decay
from dsl_strategies import deterministic_exprs, exprs, fuzz_settings
from optsearch.dsl import NAMED_RULES, Operand, RuleConfig, compile_rule, parse
from optsearch.dsl.compiler import buffers_used, uses_schedule, value_bounds
from optsearch.dsl.expr import operands

SHAPES = ((3,), (2, 4), (5,))
GRADIENT_SCALES = (1e-2, 1.0, 3.0)
STEPS = 4
TOTAL_STEPS = 3  # shorter than the run, so the schedules' clamping at T is exercised too


def make_inputs(seed: int, dtype=torch.float64):
    data = torch.Generator().manual_seed(seed)
    params = [torch.randn(shape, generator=data, dtype=dtype) for shape in SHAPES]
    grads = [
        [torch.randn(shape, generator=data, dtype=dtype) * scale for shape, scale in zip(SHAPES, GRADIENT_SCALES)]
        for _ in range(STEPS)
    ]
    return params, grads


def compiled_trajectory(expr, seed: int, generator_seed=None, config=RuleConfig(), dtype=torch.float64):
    rule = compile_rule(expr, config)
    params, grads = make_inputs(seed, dtype)
    buffers = rule.init_buffers(params)
    generator = None if generator_seed is None else torch.Generator().manual_seed(generator_seed)
    out = []
    for step, g in enumerate(grads, start=1):
        out.append(
            rule.directions(params, g, buffers, step=step, total_steps=TOTAL_STEPS, generator=generator)
        )
    return out


def reference_trajectory(expr, seed: int, generator_seed=None, config=RuleConfig(), dtype=torch.float64):
    """Per step, per parameter: ``(value, error bound)`` from the naive interpreter."""
    rule = ReferenceRule(expr, config)
    params, grads = make_inputs(seed, dtype)
    generator = None if generator_seed is None else torch.Generator().manual_seed(generator_seed)
    return [
        rule.directions_with_errors(params, g, step=step, total_steps=TOTAL_STEPS, generator=generator)
        for step, g in enumerate(grads, start=1)
    ]


def mismatches(actual, expected, rtol=1e-5, atol=1e-12) -> list[str]:
    """Where compiled values leave the reference's value by more than rtol plus its error bound."""
    found = []
    for step, (a_step, e_step) in enumerate(zip(actual, expected), start=1):
        assert len(a_step) == len(e_step)
        for index, (a, (e, err)) in enumerate(zip(a_step, e_step)):
            assert a.shape == e.shape and a.dtype == e.dtype
            same = (a == e) | (torch.isnan(a) & torch.isnan(e))
            tolerance = torch.where(torch.isfinite(e), rtol * e.abs(), torch.zeros_like(e)) + atol + err
            ok = same | ((a - e).abs() <= tolerance) | torch.isinf(err)
            if not ok.all():
                bad = (~ok).nonzero()[0].tolist()
                found.append(
                    f"step {step} tensor {index} at {bad}: compiled {a[tuple(bad)].item()!r}, "
                    f"reference {e[tuple(bad)].item()!r} ± {err[tuple(bad)].item():.3g}"
                )
    return found


def assert_trajectories_close(actual, expected, what=""):
    found = mismatches(actual, expected)
    assert not found, f"{what}: " + "; ".join(found[:3])


# ------------------------------------------------------------------------------------------------
# Compiled == reference
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(NAMED_RULES))
def test_named_rules_match_the_reference(name):
    expr = parse(NAMED_RULES[name])
    for seed in (0, 1):
        assert_trajectories_close(
            compiled_trajectory(expr, seed, generator_seed=5),
            reference_trajectory(expr, seed, generator_seed=5),
            what=name,
        )


@fuzz_settings(300)
@given(deterministic_exprs, st.integers(0, 3))
@pytest.mark.slow
def test_random_deterministic_rules_match_the_reference(expr, seed):
    assert_trajectories_close(compiled_trajectory(expr, seed), reference_trajectory(expr, seed), what=str(expr))


@fuzz_settings(150)
@given(exprs, st.integers(0, 3))
def test_random_rules_match_the_reference_under_one_generator(expr, seed):
    # noise and drop draw in the same order in both, so one seeded generator makes them agree
    assert_trajectories_close(
        compiled_trajectory(expr, seed, generator_seed=11),
        reference_trajectory(expr, seed, generator_seed=11),
        what=str(expr),
    )


@pytest.mark.parametrize(
    "compiled, reference",
    [("m", "g"), ("exp(g) - exp(m)", "exp(g) - exp(v)"), ("adam", "rmsprop"), ("g / m", "g / (m + 1e-4 * w)"),
     ("ld * g", "cd * g"), ("2 ^ m", "exp(m)"), ("sign(g) * sign(m)", "sign(g)"), ("clip(g, 1e-4)", "clip(g, 1e-5)")],
)
def test_the_comparison_can_fail(compiled, reference):
    # The error bounds are tight enough that a different rule is always told apart.
    assert mismatches(compiled_trajectory(parse(compiled), 0), reference_trajectory(parse(reference), 0))


def test_error_bounds_are_tight_on_the_named_rules():
    for name, text in NAMED_RULES.items():
        for step in reference_trajectory(parse(text), 0, generator_seed=1):
            for value, err in step:
                tight = err <= 1e-7 * (value.abs() + 1e-2)  # far below the comparison's rtol of 1e-5
                assert tight.double().mean().item() >= 0.8, (name, err)


@fuzz_settings(100)
@given(deterministic_exprs, st.integers(0, 3))
def test_random_rules_match_the_reference_under_another_config(expr, seed):
    config = RuleConfig(beta1=0.5, beta2=0.9, beta3=0.8, rms_decay=0.7, eps=1e-3, delta=1e-3, bias_correction=False)
    assert_trajectories_close(
        compiled_trajectory(expr, seed, config=config), reference_trajectory(expr, seed, config=config), what=str(expr)
    )


@pytest.mark.parametrize("name", sorted(NAMED_RULES))
def test_named_rules_in_float32(name):
    expr = parse(NAMED_RULES[name])
    actual = compiled_trajectory(expr, 3, generator_seed=2, dtype=torch.float32)
    expected = reference_trajectory(expr, 3, generator_seed=2, dtype=torch.float32)
    for a_step, e_step in zip(actual, expected):
        for a, (e, _) in zip(a_step, e_step):
            assert a.dtype == torch.float32
            torch.testing.assert_close(a, e, rtol=2e-4, atol=1e-6)


# ------------------------------------------------------------------------------------------------
# What a step reads and writes
# ------------------------------------------------------------------------------------------------
@fuzz_settings(200)
@given(exprs)
def test_directions_never_write_to_gradients_or_parameters(expr):
    rule = compile_rule(expr)
    params, grads = make_inputs(0)
    buffers = rule.init_buffers(params)
    assert set(buffers) == set(buffers_used(expr))
    for step, g in enumerate(grads, start=1):
        params_before, grads_before = [p.clone() for p in params], [x.clone() for x in g]
        out = rule.directions(params, g, buffers, step=step, total_steps=TOTAL_STEPS, generator=torch.Generator().manual_seed(0))
        assert all(torch.equal(a, b) for a, b in zip(params, params_before))
        assert all(torch.equal(a, b) for a, b in zip(g, grads_before))
        # the result is the caller's: it aliases no input, no buffer
        inputs = [t.data_ptr() for t in params + g + [b for bs in buffers.values() for b in bs]]
        assert not {t.data_ptr() for t in out} & set(inputs)
        assert [t.shape for t in out] == [p.shape for p in params]


@fuzz_settings(150)
@given(exprs, st.floats(1e-4, 1.0))
def test_apply_subtracts_lr_times_the_directions(expr, lr):
    rule = compile_rule(expr)
    params, grads = make_inputs(1)
    applied = [p.clone() for p in params]
    buffers_a, buffers_b = rule.init_buffers(params), rule.init_buffers(params)
    gen_a, gen_b = torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
    for step, g in enumerate(grads, start=1):
        directions = rule.directions(params, g, buffers_a, step=step, total_steps=TOTAL_STEPS, generator=gen_a)
        rule.apply(applied, g, buffers_b, step=step, lr=lr, total_steps=TOTAL_STEPS, generator=gen_b)
        for a, p, d in zip(applied, params, directions):
            expected = p - lr * d
            # one fused kernel against two roundings: compare on the scale of the terms, not the sum
            scale = p.abs() + lr * d.abs()
            close = ((a - expected).abs() <= 1e-12 * scale + 1e-15) | (a == expected)
            close |= torch.isnan(a) & torch.isnan(expected)
            assert close.all(), (str(expr), a, expected)
        params = [a.clone() for a in applied]  # both continue from the applied parameters
    for name in buffers_a:
        for a, b in zip(buffers_a[name], buffers_b[name]):
            assert torch.equal(a, b)


def test_running_averages_follow_the_documented_recursions():
    rule = compile_rule(parse("m + v + y + rmsprop"))
    assert rule.buffers == ("m", "v", "y", "r")
    params, grads = make_inputs(2)
    buffers = rule.init_buffers(params)
    m = [torch.zeros_like(p) for p in params]
    v, y, r = [x.clone() for x in m], [x.clone() for x in m], [x.clone() for x in m]
    for step, g in enumerate(grads, start=1):
        rule.directions(params, g, buffers, step=step)
        for i, gi in enumerate(g):
            m[i] = 0.9 * m[i] + 0.1 * gi
            v[i] = 0.999 * v[i] + 0.001 * gi**2
            y[i] = 0.999 * y[i] + 0.001 * gi**3
            r[i] = 0.99 * r[i] + 0.01 * gi**2
        for name, mine in zip("mvyr", (m, v, y, r)):
            for a, b in zip(buffers[name], mine):
                torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-15)


def test_bias_correction_makes_m_equal_g_on_the_first_step():
    params, grads = make_inputs(0)
    for text in ("m", "v", "y"):
        rule = compile_rule(parse(text))
        (out, *_), first = rule.directions(params, grads[0], rule.init_buffers(params), step=1), grads[0][0]
        power = {"m": 1, "v": 2, "y": 3}[text]
        torch.testing.assert_close(out, first**power, rtol=1e-12, atol=1e-15)


# ------------------------------------------------------------------------------------------------
# Randomness, schedules, protections
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text", ["noise", "anoise * g", "drop(g, 0.1)", "drop(m, 0.5) + noise", "g * drop(2, 0.3)", "exp(drop(noise, 0.5))"]
)
def test_random_rules_are_reproducible_under_a_fixed_generator(text):
    expr = parse(text)
    first = compiled_trajectory(expr, 0, generator_seed=123)
    again = compiled_trajectory(expr, 0, generator_seed=123)
    other = compiled_trajectory(expr, 0, generator_seed=124)
    for a_step, b_step in zip(first, again):
        assert all(torch.equal(a, b) for a, b in zip(a_step, b_step))
    assert any(not torch.equal(a, b) for a_step, b_step in zip(first, other) for a, b in zip(a_step, b_step))


def test_noise_has_the_documented_variance():
    params = [torch.zeros(200_000, dtype=torch.float64)]
    rule = compile_rule(parse("noise"))
    generator = torch.Generator().manual_seed(0)
    (out,) = rule.directions(params, [torch.zeros_like(params[0])], {}, step=1, generator=generator)
    assert out.var().item() == pytest.approx(0.01, rel=0.02)
    annealed = compile_rule(parse("anoise"))
    for step in (1, 10):
        (out,) = annealed.directions(params, [torch.zeros_like(params[0])], {}, step=step, generator=generator)
        assert out.var().item() == pytest.approx((1 + step - 1) ** -0.55, rel=0.02)


@pytest.mark.parametrize(
    "name, schedule", [("ld", linear_decay), ("cd", cosine_decay), ("rd", restart_decay)]
)
def test_schedules_follow_tensorflow_sign_decay(name, schedule):
    rule = compile_rule(parse(f"{name} * g"))
    assert rule.needs_total_steps and uses_schedule(parse(name))
    params = [torch.zeros(2, dtype=torch.float64)]
    grads = [torch.ones(2, dtype=torch.float64)]
    total = 8
    seen = []
    for step in range(1, total + 4):
        (out,) = rule.directions(params, grads, {}, step=step, total_steps=total)
        seen.append(out[0].item())
        assert out[0].item() == pytest.approx(schedule(step - 1, total), abs=1e-12)
    assert seen[0] == pytest.approx(1.0)  # t = 0 on the first update
    if name == "ld":
        assert seen[total] == 0.0 and seen[-1] == 0.0  # clamped at T
        assert seen[4] == pytest.approx(0.5)
    if name == "cd":
        assert seen[total] == pytest.approx(0.0, abs=1e-12) and seen[4] == pytest.approx(0.5)
    if name == "rd":
        assert seen[4] == pytest.approx(0.5) and seen[total - 1] == pytest.approx(0.5 * (1 + math.cos(math.pi * 7 / 8)))
    with pytest.raises(ValueError, match="total_steps"):
        rule.directions(params, grads, {}, step=1)


def test_exp_is_clamped_unless_its_argument_is_provably_small():
    params = [torch.zeros(3)]
    grads = [torch.tensor([1000.0, 90.0, -1000.0])]
    (out,) = compile_rule(parse("exp(g)")).directions(params, grads, {}, step=1)
    assert torch.isfinite(out).all()
    assert out[0].item() == pytest.approx(math.exp(80.0), rel=1e-6) and out[2].item() == 0.0
    (out,) = compile_rule(parse("exp(exp(g))")).directions(params, grads, {}, step=1)
    assert torch.isfinite(out).all()
    assert value_bounds(parse("sign(g) * sign(m)")) == (-1.0, 1.0)
    assert value_bounds(parse("exp(ld * sign(g) * sign(m))")) == pytest.approx((math.exp(-1), math.e))
    assert value_bounds(parse("g")) is None
    assert value_bounds(parse("clip(g, 1e-3) - 2")) == pytest.approx((-2.001, -1.999))


@fuzz_settings(150)
@given(exprs)
def test_rules_never_give_nan(expr):
    # The protections (δ in div/log/pow, the exp clamp, √|x|) keep every primitive finite, so a NaN
    # could only come from inf - inf or 0 * inf after a product overflows. In float64 that takes
    # about nine factors of e^80 (or of 1/δ), which random trees of this size practically never
    # have. (In float32 two factors of e^80 already overflow: arithmetic, not a missing protection.)
    out = compiled_trajectory(expr, 0, generator_seed=0, dtype=torch.float64)
    for step in out:
        for t in step:
            assert not torch.isnan(t).any(), str(expr)


def test_buffers_and_schedules_are_detected():
    assert buffers_used(parse("g")) == ()
    assert buffers_used(parse("exp(sign(g) * sign(m)) * g")) == ("m",)
    assert buffers_used(parse("adam")) == ("m", "v")
    assert buffers_used(parse("rmsprop + y")) == ("y", "r")
    assert not uses_schedule(parse("adam")) and uses_schedule(parse("g * (1 + rd)"))
    assert operands(parse("g - clip(g2, 1e-4)")) == {"g", "g2"}
    assert compile_rule(Operand("g")).buffers == ()

"""Compiling a rule into a fast, vectorised torch update — by walking the tree, never ``eval``.

Each node becomes a closure over ``torch._foreach_*`` calls, so one step costs a handful of kernel
launches for *all* parameters of a group. Two tricks keep compiled rules as fast as hand-written
ones:

- values carry a lazy scalar factor (``m̂ = m / (1 − β₁ᵗ)``, ``1e-3 * w``, ``-x`` cost no pass over
  memory until a non-linear function needs them), and Adam/RMSProp directions stay a lazy
  ``num / den`` that the final step applies with one ``addcdiv_``;
- a value that a node computed itself (*fresh*) is updated in place by its parent instead of
  allocating a new tensor. Buffers and gradients are never written to.

Exponentials skip their overflow clamp when a static range analysis proves the input small
(``exp(sign(g) * sign(m))``).

Step numbering: ``step`` counts updates including the current one (1 on the first update), as for
Adam's bias correction; the schedules and annealed noise use ``t = step - 1`` (0 on the first
update, so ``ld`` starts at 1), as TensorFlow's ``sign_decay`` functions do with ``global_step``.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor

from .bounds import Bounds, value_bounds
from .expr import Expr, Operand, Unary, operands
from .primitives import (
    BINARY_BY_NAME,
    OPERAND_BY_NAME,
    UNARY_BY_NAME,
    dropout_mask,
    protected_exp,
    protected_power,
)
from .rule_config import RuleConfig, protections
from .values import Node, Ratio, StepContext, TList, Value, as_tlist, owned, scalar_tensor, view


# ------------------------------------------------------------------------------------------------
# Operands
# ------------------------------------------------------------------------------------------------
def _operand(name: str, config: RuleConfig) -> Node:
    if name == "g":
        return lambda ctx: TList(ctx.grads, fresh=False)
    if name == "g2":
        return lambda ctx: TList(torch._foreach_mul(ctx.grads, ctx.grads))

    if name == "g3":

        def g3(ctx: StepContext) -> Value:
            out = torch._foreach_mul(ctx.grads, ctx.grads)
            torch._foreach_mul_(out, ctx.grads)
            return TList(out)

        return g3
    if name in ("m", "v", "y"):
        beta = {"m": config.beta1, "v": config.beta2, "y": config.beta3}[name]

        def running_average(ctx: StepContext) -> Value:
            scale = 1.0 / ctx.bias_correction(beta) if config.bias_correction else 1.0
            return TList(ctx.buffers[name], scale, fresh=False)

        return running_average
    if name in ("1", "2"):
        constant = float(name)
        return lambda ctx: constant
    if name in ("noise", "anoise"):

        def noise(ctx: StepContext) -> Value:
            variance = config.noise_variance if name == "noise" else (1.0 + ctx.t) ** -config.anneal_gamma
            draws = [
                torch.randn(p.shape, generator=ctx.generator, dtype=p.dtype, device=p.device) for p in ctx.params
            ]
            return TList(draws, math.sqrt(variance))

        return noise
    if name.endswith("*w"):
        scale = float(name[:-2])
        return lambda ctx: TList(ctx.params, scale, fresh=False)
    if name == "adam":

        def adam(ctx: StepContext) -> Value:
            den = torch._foreach_sqrt(ctx.buffers["v"])
            torch._foreach_div_(den, math.sqrt(ctx.bias_correction(config.beta2)))
            torch._foreach_add_(den, ctx.protections.eps)
            return Ratio(ctx.buffers["m"], den, 1.0 / ctx.bias_correction(config.beta1))

        return adam
    if name == "rmsprop":

        def rmsprop(ctx: StepContext) -> Value:
            den = torch._foreach_sqrt(ctx.buffers["r"])
            torch._foreach_add_(den, ctx.protections.eps)
            return Ratio(ctx.grads, den)

        return rmsprop
    if name in ("ld", "cd", "rd"):
        return _schedule(name, config)
    raise ValueError(f"unknown operand {name!r}")


def _schedule(name: str, config: RuleConfig) -> Node:
    def schedule(ctx: StepContext) -> Value:
        if ctx.total_steps is None:
            raise ValueError(f"rule uses the schedule {name!r}: give the optimizer total_steps")
        total = float(ctx.total_steps)
        t = min(float(ctx.t), total)
        if name == "ld":
            return max(0.0, (total - t) / total)
        if name == "cd":
            return 0.5 * (1.0 + math.cos(math.pi * 2.0 * config.cd_periods * t / total))
        return 0.5 * (1.0 + math.cos(math.pi * math.fmod(config.rd_periods * t, total) / total))

    return schedule


# ------------------------------------------------------------------------------------------------
# Unary functions
# ------------------------------------------------------------------------------------------------
def _unary(fn: str, arg: Node, arg_bounds: Bounds, config: RuleConfig) -> Node:
    spec = UNARY_BY_NAME[fn]
    if fn == "id":
        return arg
    if fn == "neg":

        def negate(ctx: StepContext) -> Value:
            value = arg(ctx)
            if isinstance(value, float):
                return -value
            if isinstance(value, Ratio):
                return Ratio(value.num, value.den, -value.scale)
            return TList(value.tensors, -value.scale, value.fresh)

        return negate
    if fn.startswith("drop"):
        p = spec.param

        def drop(ctx: StepContext) -> Value:
            value = as_tlist(arg(ctx), ctx)
            masks = [dropout_mask(x, p, ctx.generator) for x in value.tensors]  # type: ignore[arg-type]
            if value.fresh:
                torch._foreach_mul_(value.tensors, masks)
                return value
            return TList(torch._foreach_mul(value.tensors, masks), value.scale)

        return drop
    if fn == "sign":

        def sign(ctx: StepContext) -> Value:
            value = arg(ctx)
            if isinstance(value, float):
                return float(math.copysign(1.0, value)) if value != 0.0 else 0.0
            tensors, scale = (value.num, value.scale) if isinstance(value, Ratio) else (value.tensors, value.scale)
            if scale == 0.0:
                return 0.0
            fresh = isinstance(value, TList) and value.fresh
            if fresh:
                torch._foreach_sign_(tensors)
            else:
                tensors = torch._foreach_sign(tensors)
            return TList(tensors, math.copysign(1.0, scale))  # sign(s·x) = sign(s)·sign(x); den > 0

        return sign
    if fn == "sqrt":

        def sqrt(ctx: StepContext) -> Value:
            value = arg(ctx)
            if isinstance(value, float):
                return math.sqrt(abs(value))
            value = as_tlist(value, ctx)
            out = value.tensors if value.fresh else torch._foreach_abs(value.tensors)
            if value.fresh:
                torch._foreach_abs_(out)
            torch._foreach_sqrt_(out)
            return TList(out, math.sqrt(abs(value.scale)))

        return sqrt
    # exp, log, clip: elementwise on the actual numbers
    upper = math.inf if arg_bounds is None else arg_bounds[1]
    bound = spec.param

    def elementwise(ctx: StepContext) -> Value:
        value = arg(ctx)
        limits = ctx.protections
        if isinstance(value, float):
            if fn == "log":
                return math.log(abs(value) + limits.delta)
            if fn == "exp":
                return float(protected_exp(scalar_tensor(value), limit=limits.exp_max))
            return float(spec.fn(scalar_tensor(value)))
        out = owned(value, ctx)
        if fn == "exp":
            if upper > limits.exp_max:  # skipped where the static range proves it cannot trigger
                torch._foreach_clamp_max_(out, limits.exp_max)
            torch._foreach_exp_(out)
        elif fn == "log":
            torch._foreach_abs_(out)
            torch._foreach_add_(out, limits.delta)
            torch._foreach_log_(out)
        else:  # clip
            torch._foreach_clamp_min_(out, -bound)  # type: ignore[operator]
            torch._foreach_clamp_max_(out, bound)  # type: ignore[arg-type]
        return TList(out)

    return elementwise


# ------------------------------------------------------------------------------------------------
# Binary functions
# ------------------------------------------------------------------------------------------------
def _add(a: Value, b: Value, ctx: StepContext, sign: float) -> Value:
    """a + sign·b."""
    if isinstance(a, float) and isinstance(b, float):
        return a + sign * b
    if isinstance(b, float):
        out = owned(a, ctx)
        torch._foreach_add_(out, sign * b)
        return TList(out)
    if isinstance(a, float):  # a + sign·b = sign·(b + sign·a)
        out = owned(b, ctx)
        torch._foreach_add_(out, sign * a)
        return TList(out, sign)
    a, b = as_tlist(a, ctx), as_tlist(b, ctx)
    if a.fresh and a.scale != 0.0:
        torch._foreach_add_(a.tensors, b.tensors, alpha=sign * b.scale / a.scale)
        return a
    if b.fresh and b.scale != 0.0:  # a + sign·b = sign·b.scale·(b + (sign·a.scale/b.scale)·a)
        torch._foreach_add_(b.tensors, a.tensors, alpha=sign * a.scale / b.scale)
        return TList(b.tensors, sign * b.scale)
    if a.scale != 0.0:
        return TList(torch._foreach_add(a.tensors, b.tensors, alpha=sign * b.scale / a.scale), a.scale)
    return TList(owned(b, ctx), sign)


def _multiply(a: Value, b: Value, ctx: StepContext) -> Value:
    if isinstance(a, float) and isinstance(b, float):
        return a * b
    if isinstance(a, float) or isinstance(b, float):
        scalar, other = (a, b) if isinstance(a, float) else (b, a)
        if isinstance(other, Ratio):
            return Ratio(other.num, other.den, other.scale * scalar)  # type: ignore[operator]
        return TList(other.tensors, other.scale * scalar, other.fresh)  # type: ignore[union-attr,operator]
    a, b = as_tlist(a, ctx), as_tlist(b, ctx)
    if a.fresh:
        torch._foreach_mul_(a.tensors, b.tensors)
        return TList(a.tensors, a.scale * b.scale)
    if b.fresh:
        torch._foreach_mul_(b.tensors, a.tensors)
        return TList(b.tensors, a.scale * b.scale)
    return TList(torch._foreach_mul(a.tensors, b.tensors), a.scale * b.scale)


def _away_from_zero(x: float, delta: float) -> float:
    return x - delta if x < 0 else x + delta


def _divide(a: Value, b: Value, ctx: StepContext) -> Value:
    delta = ctx.protections.delta
    if isinstance(b, float):
        denominator = _away_from_zero(b, delta)
        if isinstance(a, float):
            return a / denominator
        return _multiply(a, 1.0 / denominator, ctx)
    den = [torch.where(y < 0, y - delta, y + delta) for y in view(b, ctx)]
    if isinstance(a, float):
        torch._foreach_reciprocal_(den)
        return TList(den, a)
    a = as_tlist(a, ctx)
    if a.fresh:
        torch._foreach_div_(a.tensors, den)
        return a
    return TList(torch._foreach_div(a.tensors, den), a.scale)


def _power(a: Value, b: Value, ctx: StepContext) -> Value:
    delta = ctx.config.delta
    if isinstance(a, float) and isinstance(b, float):  # in float64, but within the parameters' limits
        limits = ctx.protections
        return float(protected_power(scalar_tensor(a), scalar_tensor(b), limits.delta, limit=limits.exp_max))
    bases = [scalar_tensor(a)] * len(ctx.params) if isinstance(a, float) else view(a, ctx)
    exponents = [scalar_tensor(b)] * len(ctx.params) if isinstance(b, float) else view(b, ctx)
    out = [
        protected_power(x, y, delta).to(dtype=p.dtype, device=p.device)
        for x, y, p in zip(bases, exponents, ctx.params)
    ]
    return TList(out)


def _binary(fn: str, left: Node, right: Node) -> Node:
    if fn == "keep":
        return left
    if fn == "add":
        return lambda ctx: _add(left(ctx), right(ctx), ctx, 1.0)
    if fn == "sub":
        return lambda ctx: _add(left(ctx), right(ctx), ctx, -1.0)
    if fn == "mul":
        return lambda ctx: _multiply(left(ctx), right(ctx), ctx)
    if fn == "div":
        return lambda ctx: _divide(left(ctx), right(ctx), ctx)
    if fn == "pow":
        return lambda ctx: _power(left(ctx), right(ctx), ctx)
    raise ValueError(f"unknown binary {fn!r}")


def _compile_node(expr: Expr, config: RuleConfig) -> Node:
    if isinstance(expr, Operand):
        return _operand(expr.name, config)
    if isinstance(expr, Unary):
        return _unary(expr.fn, _compile_node(expr.arg, config), value_bounds(expr.arg), config)
    if expr.fn not in BINARY_BY_NAME:
        raise ValueError(f"unknown binary {expr.fn!r}")
    return _binary(expr.fn, _compile_node(expr.left, config), _compile_node(expr.right, config))


# ------------------------------------------------------------------------------------------------
# The compiled rule
# ------------------------------------------------------------------------------------------------
BUFFER_NAMES = ("m", "v", "y", "r")


def buffers_used(expr: Expr) -> tuple[str, ...]:
    """The running averages ``expr`` needs, in a fixed order."""
    needed: set[str] = set()
    for name in operands(expr):
        needed.update(OPERAND_BY_NAME[name].buffers)
    return tuple(b for b in BUFFER_NAMES if b in needed)


def uses_schedule(expr: Expr) -> bool:
    """Whether the rule reads a decay schedule (and so needs ``total_steps``)."""
    return bool(operands(expr) & {"ld", "cd", "rd"})


class UpdateRule:
    """A compiled rule: a pair of functions in the spirit of optax.

    ``init_buffers(params)`` gives the state (only the running averages the rule uses);
    ``apply(...)`` updates the buffers with the current gradients and performs
    :math:`w \\leftarrow w - \\lambda \\cdot \\text{rule}` in place; ``directions(...)`` returns the
    rule's value instead of applying it (used for fingerprints and tests).
    """

    def __init__(self, expr: Expr, config: RuleConfig = RuleConfig()):
        self.expr = expr
        self.config = config
        self.buffers = buffers_used(expr)
        self.needs_total_steps = uses_schedule(expr)
        self._root = _compile_node(expr, config)

    def __repr__(self) -> str:
        return f"UpdateRule({str(self.expr)!r})"

    def init_buffers(self, params: list[Tensor]) -> dict[str, list[Tensor]]:
        """Zero running averages for ``params``: one list per buffer the rule uses."""
        return {name: [torch.zeros_like(p, memory_format=torch.preserve_format) for p in params] for name in self.buffers}

    def _advance(
        self,
        params: list[Tensor],
        grads: list[Tensor],
        buffers: dict[str, list[Tensor]],
        step: int,
        total_steps: Optional[int],
        generator: Optional[torch.Generator],
    ) -> tuple[Value, StepContext]:
        config = self.config
        if "m" in buffers:
            torch._foreach_lerp_(buffers["m"], grads, 1.0 - config.beta1)
        if "v" in buffers:
            torch._foreach_mul_(buffers["v"], config.beta2)
            torch._foreach_addcmul_(buffers["v"], grads, grads, 1.0 - config.beta2)
        if "y" in buffers:
            cubes = torch._foreach_mul(grads, grads)
            torch._foreach_mul_(cubes, grads)
            torch._foreach_mul_(buffers["y"], config.beta3)
            torch._foreach_add_(buffers["y"], cubes, alpha=1.0 - config.beta3)
        if "r" in buffers:
            torch._foreach_mul_(buffers["r"], config.rms_decay)
            torch._foreach_addcmul_(buffers["r"], grads, grads, 1.0 - config.rms_decay)
        limits = protections(frozenset(p.dtype for p in params), config.delta, config.eps)
        ctx = StepContext(params, grads, buffers, step, total_steps, generator, config, limits)
        return self._root(ctx), ctx

    def apply(
        self,
        params: list[Tensor],
        grads: list[Tensor],
        buffers: dict[str, list[Tensor]],
        *,
        step: int,
        lr: float,
        total_steps: Optional[int] = None,
        generator: Optional[torch.Generator] = None,
    ) -> None:
        """One update of ``params`` in place; ``step`` counts updates including this one."""
        value, ctx = self._advance(params, grads, buffers, step, total_steps, generator)
        if isinstance(value, float):
            torch._foreach_add_(params, -lr * value)
        elif isinstance(value, Ratio):
            torch._foreach_addcdiv_(params, value.num, value.den, -lr * value.scale)
        else:
            torch._foreach_add_(params, value.tensors, alpha=-lr * value.scale)

    def directions(
        self,
        params: list[Tensor],
        grads: list[Tensor],
        buffers: dict[str, list[Tensor]],
        *,
        step: int,
        total_steps: Optional[int] = None,
        generator: Optional[torch.Generator] = None,
    ) -> list[Tensor]:
        """Advance the buffers and return the rule's value per parameter (without applying it)."""
        value, ctx = self._advance(params, grads, buffers, step, total_steps, generator)
        return owned(value, ctx)


def compile_rule(expr: Expr, config: RuleConfig = RuleConfig()) -> UpdateRule:
    """Compile ``expr`` into an :class:`UpdateRule` (closures over foreach kernels, no ``eval``)."""
    return UpdateRule(expr, config)

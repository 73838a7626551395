"""An independent, deliberately naive interpreter of rules, for checking the compiler.

It walks the tree once per step, applies each primitive's reference ``fn`` (from
:mod:`optsearch.dsl.primitives`) to one tensor at a time, and computes the operands from its own
running averages. Nothing here shares code with :mod:`optsearch.dsl.compiler`. Each node yields a
list with one tensor per parameter, and nodes are visited left to right, so random draws
(``noise``, ``drop``) come in the compiler's order: under one seeded generator both agree exactly.

Next to every value it carries a first-order *running error bound* (Wilkinson's running error
analysis): how far a correct evaluation that rounds differently (the compiler's lazy scales, ``lerp``
for the running averages, fused kernels) may land from the reference value. Where a rule cancels
(``exp(g) - exp(m)`` on the first step, when m̂ = g) or takes the sign of a difference that is zero
up to rounding, the bound is large and the comparison is lenient there; everywhere else it is tiny,
so a real compiler bug (a wrong operand, a lost scale, a missed protection) cannot hide in it.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor

from optsearch.dsl import Binary, Operand, RuleConfig, Unary
from optsearch.dsl.primitives import BINARY_BY_NAME, EXP_MAX, UNARY_BY_NAME

ROUNDING = 1e-13  # error charged per operation, relative to its result: ~450 float64 ulps of slack


def linear_decay(t: int, total: int) -> float:
    """TF's ``sign_decay`` linear decay: max(0, (T - t)/T), t clamped to T."""
    t = min(t, total)
    return max(0.0, (total - t) / total)


def cosine_decay(t: int, total: int, periods: float = 0.5) -> float:
    """TF's cosine decay: 0.5 (1 + cos(2π n t / T))."""
    t = min(t, total)
    return 0.5 * (1.0 + math.cos(math.pi * 2.0 * periods * t / total))


def restart_decay(t: int, total: int, periods: float = 1.0) -> float:
    """TF's restart decay: 0.5 (1 + cos(π ((n t) mod T) / T))."""
    t = min(t, total)
    return 0.5 * (1.0 + math.cos(math.pi * ((periods * t) % total) / total))


def _nan_to_inf(x: Tensor) -> Tensor:
    return torch.where(torch.isnan(x), torch.full_like(x, math.inf), x)


def _sqrt_error(x: Tensor, ex: Tensor) -> Tensor:
    """A bound on |√|x'| − √|x|| for |x' − x| ≤ ex (√ is not Lipschitz at 0)."""
    ax = x.abs()
    return torch.where(ax > ex, ex / torch.sqrt(ax).clamp_min(1e-300), torch.sqrt(ex))


class ReferenceRule:
    """``directions(params, grads, step, ...)`` as :meth:`UpdateRule.directions`, the slow way."""

    def __init__(self, expr, config: RuleConfig = RuleConfig()):
        self.expr = expr
        self.config = config
        self.state: Optional[dict[str, list[Tensor]]] = None
        self.errors: Optional[dict[str, list[Tensor]]] = None

    def directions(self, params, grads, *, step, total_steps=None, generator=None) -> list[Tensor]:
        return [value for value, _ in self.directions_with_errors(params, grads, step=step, total_steps=total_steps, generator=generator)]

    def directions_with_errors(
        self,
        params: list[Tensor],
        grads: list[Tensor],
        *,
        step: int,
        total_steps: Optional[int] = None,
        generator: Optional[torch.Generator] = None,
    ) -> list[tuple[Tensor, Tensor]]:
        """``(value, error bound)`` per parameter; advances the running averages."""
        c = self.config
        if self.state is None:
            self.state = {k: [torch.zeros_like(p) for p in params] for k in ("m", "v", "y", "r")}
            self.errors = {k: [torch.zeros_like(p) for p in params] for k in ("m", "v", "y", "r")}
        s, e = self.state, self.errors
        decays = {"m": c.beta1, "v": c.beta2, "y": c.beta3, "r": c.rms_decay}
        for i, gi in enumerate(grads):
            news = {"m": gi, "v": gi * gi, "y": gi * gi * gi, "r": gi * gi}
            for k, beta in decays.items():
                s[k][i] = beta * s[k][i] + (1 - beta) * news[k]
                e[k][i] = beta * e[k][i] + ROUNDING * (s[k][i].abs() + news[k].abs())
        self._params, self._grads, self._step = params, grads, step
        self._total, self._generator = total_steps, generator
        return [(v, _nan_to_inf(err)) for v, err in self._eval(self.expr)]

    # -- operands --------------------------------------------------------------------------------
    def _full(self, value: float) -> list[tuple[Tensor, Tensor]]:
        return [(torch.full_like(p, value), torch.full_like(p, ROUNDING * abs(value))) for p in self._params]

    def _exactish(self, values: list[Tensor]) -> list[tuple[Tensor, Tensor]]:
        return [(x, ROUNDING * x.abs()) for x in values]

    def _hat(self, name: str, beta: float, always: bool = False) -> list[tuple[Tensor, Tensor]]:
        correction = (1 - beta**self._step) if (self.config.bias_correction or always) else 1.0
        return [
            (x / correction, err / correction + ROUNDING * (x / correction).abs())
            for x, err in zip(self.state[name], self.errors[name])
        ]

    def _operand(self, name: str) -> list[tuple[Tensor, Tensor]]:
        c, t, total = self.config, self._step - 1, self._total
        if name == "g":
            return [(x.clone(), torch.zeros_like(x)) for x in self._grads]
        if name == "g2":
            return self._exactish([x * x for x in self._grads])
        if name == "g3":
            return self._exactish([x * x * x for x in self._grads])
        if name == "m":
            return self._hat("m", c.beta1)
        if name == "v":
            return self._hat("v", c.beta2)
        if name == "y":
            return self._hat("y", c.beta3)
        if name in ("1", "2"):
            return self._full(float(name))
        if name.endswith("*w"):
            return self._exactish([float(name[:-2]) * p for p in self._params])
        if name == "adam":  # Adam always bias-corrects
            return [
                self._ratio(mh, emh, vh, evh)
                for (mh, emh), (vh, evh) in zip(self._hat("m", c.beta1, True), self._hat("v", c.beta2, True))
            ]
        if name == "rmsprop":
            return [
                self._ratio(gi, torch.zeros_like(gi), ri, ei)
                for gi, ri, ei in zip(self._grads, self.state["r"], self.errors["r"])
            ]
        if name == "ld":
            return self._full(linear_decay(t, total))
        if name == "cd":
            return self._full(cosine_decay(t, total, c.cd_periods))
        if name == "rd":
            return self._full(restart_decay(t, total, c.rd_periods))
        if name in ("noise", "anoise"):
            variance = c.noise_variance if name == "noise" else (1.0 + t) ** -c.anneal_gamma
            return self._exactish(
                [
                    torch.randn(p.shape, generator=self._generator, dtype=p.dtype) * math.sqrt(variance)
                    for p in self._params
                ]
            )
        raise AssertionError(f"unknown operand {name}")

    def _ratio(self, num: Tensor, enum: Tensor, sq: Tensor, esq: Tensor) -> tuple[Tensor, Tensor]:
        """num / (√sq + ε) and its error bound."""
        den = torch.sqrt(sq) + self.config.eps
        out = num / den
        eden = _sqrt_error(sq, esq)
        slack = (den - eden).clamp_min(0.0)
        err = enum / den + num.abs() * eden / (den * slack) + ROUNDING * out.abs()
        return out, err

    # -- the tree --------------------------------------------------------------------------------
    def _eval(self, expr) -> list[tuple[Tensor, Tensor]]:
        if isinstance(expr, Operand):
            return self._operand(expr.name)
        if isinstance(expr, Unary):
            spec = UNARY_BY_NAME[expr.fn]
            result = []
            for x, ex in self._eval(expr.arg):
                if expr.fn == "log":
                    out = spec.fn(x, generator=self._generator, delta=self.config.delta)
                else:
                    out = spec.fn(x, generator=self._generator)
                result.append((out, self._unary_error(expr.fn, spec.param, x, ex, out)))
            return result
        assert isinstance(expr, Binary)
        if expr.fn == "keep":
            return self._eval(expr.left)  # the right branch is dead: not even its draws happen
        fn = BINARY_BY_NAME[expr.fn].fn
        left = self._eval(expr.left)
        right = self._eval(expr.right)
        result = []
        for (x, ex), (y, ey) in zip(left, right):
            out = fn(x, y, delta=self.config.delta)
            result.append((out, self._binary_error(expr.fn, x, ex, y, ey, out)))
        return result

    def _unary_error(self, fn: str, param, x: Tensor, ex: Tensor, out: Tensor) -> Tensor:
        rounding = ROUNDING * out.abs()
        if fn in ("id", "neg"):
            return ex
        if fn.startswith("clip"):  # flat beyond the bound
            return torch.where(x.abs() - ex > param, torch.zeros_like(ex), ex)
        if fn.startswith("drop"):
            return ex / (1 - param)
        if fn == "exp":
            return torch.exp(torch.clamp(x + ex, max=EXP_MAX)) * ex + rounding
        if fn == "log":
            slack = (x.abs() + self.config.delta - ex).clamp_min(0.0)
            return ex / slack + rounding
        if fn == "sqrt":
            return _sqrt_error(x, ex) + rounding
        if fn == "sign":  # a sign may flip where the argument is zero up to its error
            return torch.where((x.abs() <= ex) & (ex > 0), torch.full_like(x, 2.0), torch.zeros_like(x))
        raise AssertionError(fn)

    def _binary_error(self, fn: str, x: Tensor, ex: Tensor, y: Tensor, ey: Tensor, out: Tensor) -> Tensor:
        rounding = ROUNDING * out.abs()
        delta = self.config.delta
        if fn in ("add", "sub"):
            return ex + ey + rounding
        if fn == "mul":
            return y.abs() * ex + x.abs() * ey + ex * ey + rounding
        if fn == "div":
            den = torch.where(y < 0, y - delta, y + delta).abs()
            smooth = ex / den + (x.abs() + ex) * ey / (den * (den - ey).clamp_min(0.0))
            flip = 2 * (x.abs() + ex) / delta  # y ± δ jumps where y's sign is unsure
            return torch.where((y.abs() <= ey) & (ey > 0), flip, smooth) + rounding
        if fn == "pow":
            log_base = torch.log(x.abs() + delta)
            elog = ex / (x.abs() + delta - ex).clamp_min(0.0)
            eexponent = y.abs() * elog + log_base.abs() * ey + elog * ey
            magnitude = out.abs()
            smooth = magnitude * torch.expm1(eexponent.clamp(max=700.0)) + rounding
            flip = 2 * magnitude + smooth
            return torch.where((x.abs() <= ex) & (ex > 0), flip, smooth)
        raise AssertionError(fn)

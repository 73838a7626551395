"""The hyper-parameters of a compiled rule, and its protections scaled to the parameters' dtype."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import torch

from .primitives import EXP_MAX, exp_limit, safe_delta


@dataclass(frozen=True)
class RuleConfig:
    """Hyper-parameters of the operands and protections (the paper leaves several unconfirmed).

    ``beta1``/``beta2``/``beta3``: decays of m̂, v̂, ŷ (and Adam's m̂, v̂). ``rms_decay``: RMSProp's
    decay (torch's default 0.99). ``eps``: Adam's and RMSProp's ε. ``delta``: δ of the protected
    division, log and power (both are raised where the parameters' dtype cannot hold them: see
    :class:`Protections`). ``bias_correction``: whether ``m``, ``v``, ``y`` are bias-corrected
    (the paper's hats); Adam is always. ``noise_variance``: variance of ``noise``.
    ``anneal_gamma``: ``anoise`` has variance 1/(1+t)^γ. ``cd_periods``/``rd_periods``: TF's
    ``num_periods`` of the cosine and restart decays.

    Every number must be finite; the betas lie in [0, 1) (1 would divide by zero in the bias
    correction), ``rms_decay`` in [0, 1], ``eps`` and ``noise_variance`` are >= 0 and ``delta`` > 0
    (δ = 0 would leave division unprotected); anything else raises ``ValueError``.
    """

    beta1: float = 0.9
    beta2: float = 0.999
    beta3: float = 0.999
    rms_decay: float = 0.99
    eps: float = 1e-8
    delta: float = 1e-8
    bias_correction: bool = True
    noise_variance: float = 0.01
    anneal_gamma: float = 0.55
    cd_periods: float = 0.5
    rd_periods: float = 1.0

    def __post_init__(self) -> None:
        for name in ("beta1", "beta2", "beta3"):
            _check_number(self, name, lambda x: 0.0 <= x < 1.0, "in [0, 1)")
        _check_number(self, "rms_decay", lambda x: 0.0 <= x <= 1.0, "in [0, 1]")
        _check_number(self, "eps", lambda x: x >= 0.0, ">= 0")
        _check_number(self, "delta", lambda x: x > 0.0, "> 0")
        _check_number(self, "noise_variance", lambda x: x >= 0.0, ">= 0")
        for name in ("anneal_gamma", "cd_periods", "rd_periods"):
            _check_number(self, name, lambda x: True, "")


def _check_number(config: RuleConfig, name: str, in_range: Callable[[float], bool], expected: str) -> None:
    value = getattr(config, name)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"RuleConfig.{name} must be a number, got {type(value).__name__}")
    if not (math.isfinite(value) and in_range(value)):
        condition = f"finite and {expected}" if expected else "finite"
        raise ValueError(f"RuleConfig.{name} = {value} is invalid: it must be {condition}")


@dataclass(frozen=True)
class Protections:
    """The constants of the protected math for one update, fitted to the parameters' dtype.

    ``delta``: δ of division, log and power; ``eps``: Adam's and RMSProp's ε; ``exp_max``: the
    clamp of exp (and of power's exponent); ``eager_scales``: whether lazy scale factors are
    applied before values are combined (in float16, whose range leaves no room for them).

    Float32, float64 and bfloat16 get the configured δ and ε and a clamp of 80; float16 gets δ
    and ε of at least 6.1e-5 and a clamp of about 10.09 (see
    :func:`~optsearch.dsl.primitives.safe_delta` and :func:`~optsearch.dsl.primitives.exp_limit`).
    """

    delta: float
    eps: float
    exp_max: float
    eager_scales: bool = False


@lru_cache(maxsize=64)
def protections(dtypes: frozenset, delta: float, eps: float) -> Protections:
    """The protections for parameters of ``dtypes``: those of the narrowest when they are mixed."""
    dtypes = dtypes or frozenset({torch.get_default_dtype()})  # no parameters: nothing to fit
    return Protections(
        delta=max(safe_delta(delta, d) for d in dtypes),
        eps=max(safe_delta(eps, d) for d in dtypes),
        exp_max=min(exp_limit(d) for d in dtypes),
        eager_scales=any(exp_limit(d) < EXP_MAX for d in dtypes),  # too narrow for e^80: float16
    )

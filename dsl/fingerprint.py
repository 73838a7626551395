"""A functional hash of a rule: rules that compute the same update share one fingerprint.

As AutoML-Zero's functional-equivalence check (Real et al. 2020) and Lion's hash cache (Chen et al.
2023): the compiled rule is run on fixed probe parameters and a fixed sequence of gradients, with
fixed randomness for ``noise`` and ``drop``; its outputs, rounded to about six significant digits,
are hashed. ``exp(sign(m) * sign(g)) * g`` and ``g * exp(sign(g) * sign(m))`` share a fingerprint;
``g`` and ``m`` do not.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from .compiler import RuleConfig, compile_rule
from .expr import Expr

PROBE_SHAPES = ((7,), (3, 4), (5,))
PROBE_GRADIENT_SCALES = (1e-3, 1.0, 30.0)
PROBE_STEPS = 10
MANTISSA_BITS = 20  # about six significant decimal digits
TINY = 1e-20


def _probe_trajectory(expr: Expr, config: RuleConfig) -> list[np.ndarray]:
    rule = compile_rule(expr, config)
    data = torch.Generator().manual_seed(20170101)
    params = [torch.randn(shape, generator=data, dtype=torch.float64) for shape in PROBE_SHAPES]
    buffers = rule.init_buffers(params)
    randomness = torch.Generator().manual_seed(7)
    outputs = []
    for step in range(1, PROBE_STEPS + 1):
        grads = [
            torch.randn(shape, generator=data, dtype=torch.float64) * scale
            for shape, scale in zip(PROBE_SHAPES, PROBE_GRADIENT_SCALES)
        ]
        directions = rule.directions(
            params, grads, buffers, step=step, total_steps=PROBE_STEPS, generator=randomness
        )
        outputs.extend(d.detach().reshape(-1).numpy().copy() for d in directions)
    return outputs


def _quantize(values: np.ndarray) -> bytes:
    values = np.where(np.abs(values) < TINY, 0.0, values)
    finite = np.isfinite(values)
    mantissa, exponent = np.frexp(np.where(finite, values, 0.0))
    rounded = np.round(mantissa * (1 << MANTISSA_BITS)).astype(np.int64)
    # NaN, +inf and -inf each get a code of their own
    special = np.where(np.isnan(values), 1, np.where(np.isposinf(values), 2, np.where(np.isneginf(values), 3, 0)))
    return np.stack([rounded, exponent.astype(np.int64), special]).tobytes()


def fingerprint(expr: Expr, config: RuleConfig = RuleConfig()) -> str:
    """A 16-hex-digit hash of what ``expr`` computes on fixed probe inputs."""
    digest = hashlib.sha256()
    for values in _probe_trajectory(expr, config):
        digest.update(_quantize(values))
    return digest.hexdigest()[:16]

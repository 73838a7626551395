"""The two test functions ("millisecond" tasks for screening and fast tests) and their score.

A function task has no data: the trainer minimises ``f`` from the fixed start point ``x0`` with
stochastic gradients (exact gradient plus Gaussian noise of standard deviation ``noise_std``, one
draw per step shared by all learning rates). Its "accuracy" is a normalised progress score in
[0, 1]::

    score = clip(log10(f(x0) / f(x_T)) / 6, 0, 1)

(six orders of magnitude of decrease = 1.0; no decrease or an increase = 0.0); the trainer
reports it as both ``val_acc`` and ``test_acc``. With the defaults, ``adam`` scores ~0.92,
``sgd`` and ``m`` 1.0, ``sign(g)`` ~0.7 and ``g3`` ~0.13 on the quadratic; on Rosenbrock ``adam``
reaches 1.0 while ``sgd`` only ~0.1 (its stable step size crawls along the curved valley:
condition number ~2500), and ``-g`` scores 0 on both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Union

import numpy as np
import torch
from torch import Tensor

from .task import SPLIT_SEED, Task

if TYPE_CHECKING:
    from .registry import TaskSpec

SCORE_DECADES = 6.0  # orders of magnitude of decrease that give a function task score of 1.0


@dataclass(frozen=True, eq=False)
class QuadraticFunction:
    """``f(w) = ½ Σᵢ aᵢ (wᵢ − cᵢ)²``, evaluated on a stack of points ``w [K, d]``."""

    a: Tensor
    c: Tensor
    x0: Tensor
    noise_std: float

    @property
    def dim(self) -> int:
        """The number of coordinates ``d``."""
        return int(self.x0.shape[0])

    def value(self, w: Tensor) -> Tensor:
        """``f`` of every point: ``[K, d] -> [K]``."""
        diff = w - self.c
        return 0.5 * (self.a * diff * diff).sum(-1)

    def gradient(self, w: Tensor) -> Tensor:
        """The exact gradient at every point: ``[K, d] -> [K, d]``."""
        return self.a * (w - self.c)


@dataclass(frozen=True, eq=False)
class RosenbrockFunction:
    """``f(x, y) = (a − x)² + b (y − x²)²`` on a stack of points ``w [K, 2]`` (minimum 0 at (a, a²))."""

    x0: Tensor
    noise_std: float
    a: float = 1.0
    b: float = 100.0

    @property
    def dim(self) -> int:
        """Two coordinates, ``x`` and ``y``."""
        return 2

    def value(self, w: Tensor) -> Tensor:
        """``f`` of every point: ``[K, 2] -> [K]``."""
        x, y = w[..., 0], w[..., 1]
        return (self.a - x) ** 2 + self.b * (y - x * x) ** 2

    def gradient(self, w: Tensor) -> Tensor:
        """The exact gradient at every point: ``[K, 2] -> [K, 2]``."""
        x, y = w[..., 0], w[..., 1]
        inner = y - x * x
        return torch.stack((-2.0 * (self.a - x) - 4.0 * self.b * x * inner, 2.0 * self.b * inner), dim=-1)


TestFunction = Union[QuadraticFunction, RosenbrockFunction]


def progress_score(f0: float, f_final: float, decades: float = SCORE_DECADES) -> float:
    """``clip(log10(f0 / f_final) / decades, 0, 1)``; 0 for a non-finite ``f_final``."""
    if not math.isfinite(f_final) or not math.isfinite(f0) or f0 <= 0.0:
        return 0.0
    if f_final <= 0.0:
        return 1.0
    return float(min(1.0, max(0.0, math.log10(f0 / f_final) / decades)))


def _function_task(spec: "TaskSpec", fn: TestFunction) -> Task:
    return Task(
        name=spec.name,
        kind=spec.kind,
        num_classes=0,
        input_shape=(fn.dim,),
        defaults=spec.defaults,
        function=fn,
        description=spec.description,
    )


@lru_cache(maxsize=None)
def load_quadratic(spec: "TaskSpec") -> Task:
    """The ill-conditioned quadratic (32-D, condition number 100, gradient noise 1e-3)."""
    dim = 32
    rng = np.random.default_rng(SPLIT_SEED)
    # Curvatures 0.1 … 10 (condition number 100): gradients of order 0.1–10, like a network's, so
    # that non-linear rules (g3, exp(g), …) meet realistic magnitudes; gradient noise std 1e-3.
    a = torch.logspace(-1.0, 1.0, dim, dtype=torch.float32)
    c = torch.from_numpy(rng.standard_normal(dim).astype(np.float32))
    return _function_task(spec, QuadraticFunction(a=a, c=c, x0=torch.zeros(dim), noise_std=1e-3))


@lru_cache(maxsize=None)
def load_rosenbrock(spec: "TaskSpec") -> Task:
    """Rosenbrock (a=1, b=100) from (-1.5, 2.0) with exact gradients."""
    return _function_task(spec, RosenbrockFunction(x0=torch.tensor([-1.5, 2.0]), noise_std=0.0))

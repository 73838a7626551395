"""What a compiled rule computes with: the step's inputs and values with lazy scales.

A value is a Python float, a :class:`TList` (``scale * tensors``, *fresh* when its tensors may be
overwritten by the parent node) or a :class:`Ratio` (``scale * num / den``, Adam's and RMSProp's
directions, applied by the final step with one ``addcdiv_``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Union

import torch
from torch import Tensor

from .rule_config import Protections, RuleConfig


@dataclass
class StepContext:
    """Everything one update reads. Lists run parallel over the parameters being updated."""

    params: list[Tensor]
    grads: list[Tensor]
    buffers: dict[str, list[Tensor]]
    step: int
    total_steps: Optional[int]
    generator: Optional[torch.Generator]
    config: RuleConfig
    protections: Protections

    @property
    def t(self) -> int:
        return self.step - 1

    def bias_correction(self, beta: float) -> float:
        return 1.0 - beta**self.step


class TList:
    """``scale * tensors``; ``fresh`` when the tensors belong to this value and may be overwritten."""

    __slots__ = ("tensors", "scale", "fresh")

    def __init__(self, tensors: list[Tensor], scale: float = 1.0, fresh: bool = True):
        self.tensors = tensors
        self.scale = scale
        self.fresh = fresh


class Ratio:
    """``scale * num / den`` with ``den > 0`` and owned (Adam's and RMSProp's directions)."""

    __slots__ = ("num", "den", "scale")

    def __init__(self, num: list[Tensor], den: list[Tensor], scale: float = 1.0):
        self.num = num
        self.den = den
        self.scale = scale


Value = Union[float, TList, Ratio]
Node = Callable[[StepContext], Value]


def owned(value: Value, ctx: StepContext) -> list[Tensor]:
    """The actual numbers of ``value`` in tensors this caller may overwrite."""
    if isinstance(value, float):
        return [torch.full_like(p, value) for p in ctx.params]
    if isinstance(value, Ratio):
        out = torch._foreach_div(value.num, value.den)
        if value.scale != 1.0:
            torch._foreach_mul_(out, value.scale)
        return out
    if value.fresh:
        if value.scale != 1.0:
            torch._foreach_mul_(value.tensors, value.scale)
        return value.tensors
    return torch._foreach_mul(value.tensors, value.scale)


def as_tlist(value: Value, ctx: StepContext) -> TList:
    """A tensor value with a lazy scale (Ratios and scalars are materialised).

    In a narrow dtype (float16) the scale is applied too: an unscaled intermediate, such as the
    draws of ``noise`` before their factor 0.1, could overflow where the value itself does not.
    """
    if isinstance(value, TList) and (value.scale == 1.0 or not ctx.protections.eager_scales):
        return value
    return TList(owned(value, ctx))


def view(value: Value, ctx: StepContext) -> list[Tensor]:
    """The actual numbers of ``value``, read-only."""
    if isinstance(value, TList) and value.scale == 1.0:
        return value.tensors
    return owned(value, ctx)


def scalar_tensor(x: float) -> Tensor:
    return torch.tensor(x, dtype=torch.float64)

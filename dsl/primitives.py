"""The vocabulary of the language: every operand, unary and binary function once.

Faithful to Bello et al. (2017), "Neural Optimizer Search with Reinforcement Learning". Each
primitive carries its name (also its controller token), text form, LaTeX form and a reference torch
implementation on one tensor. The compiler (:mod:`optsearch.dsl.compiler`) runs the same math,
vectorised over all parameters; tests check both agree.

Protections for unsafe math (``δ`` is :data:`DELTA` unless a :class:`~optsearch.dsl.compiler.RuleConfig`
says otherwise) keep every primitive finite on zeros, negatives and large values:

- ``log(x)`` is :math:`\\log(|x| + δ)`;
- ``sqrt(x)`` is :math:`\\sqrt{|x|}`;
- ``exp(x)`` is :math:`e^{\\min(x, c)}`, :math:`c = 80` (float32 overflows past 88);
- ``x / y`` is :math:`x / (y + δ)` with δ pushed away from zero, so :math:`|y \\pm δ| \\ge δ`;
- ``x ^ y`` is the odd extension :math:`s(x)\\,e^{\\min(y \\log(|x| + δ),\\, c)}` with
  :math:`s(x) = -1` for :math:`x < 0` and :math:`+1` otherwise, so a negative base never gives NaN.

The constants follow the dtype of the numbers (:func:`safe_delta`, :func:`exp_limit`): δ is at
least the dtype's smallest normal number, so adding it is never lost to underflow, and ``c`` is at
most :math:`\\ln(\\max) - 1`, so :math:`e^c` fits. Float32, float64 and bfloat16 keep δ = 1e-8 and
c = 80 exactly; float16, whose smallest normal is 6.1e-5 and largest number 65504, gets
δ ≈ 6.1e-5 and c ≈ 10.09 (:math:`e^c` ≈ 24 000). Protection bounds each primitive, not every
composition: as in any dtype, a quotient :math:`|x| / δ` still overflows for a large enough
:math:`|x|` (in float16 from about 4).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import torch
from torch import Tensor

DELTA = 1e-8
EXP_MAX = 80.0
EXP_MARGIN = 1.0  # e^(ln(max) - 1) = max / e: room left for one more small factor


def _finfo(dtype: torch.dtype) -> torch.finfo:
    return torch.finfo(dtype if dtype.is_floating_point else torch.get_default_dtype())


def safe_delta(delta: float, dtype: torch.dtype) -> float:
    """``delta`` for numbers of ``dtype``: at least the dtype's smallest normal number.

    The same rule serves Adam's and RMSProp's ε. Float16 cannot hold 1e-8 (it rounds to 0 there),
    so float16 gets 6.1e-5; float32, float64 and bfloat16 keep ``delta`` unchanged.
    """
    return max(delta, _finfo(dtype).tiny)


def exp_limit(dtype: torch.dtype) -> float:
    """The clamp of ``exp``'s argument for ``dtype``: :data:`EXP_MAX`, or ln(max) − 1 where smaller.

    Float16 (largest number 65504) gets ≈ 10.09; float32, float64 and bfloat16 keep 80.
    """
    return min(EXP_MAX, math.log(_finfo(dtype).max) - EXP_MARGIN)


# ---------------------------------------------------------------------------------------------
# Operands
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OperandSpec:
    """An operand: a leaf of a rule.

    ``buffers`` names the running averages it needs (``"m"``, ``"v"``, ``"y"``, ``"r"``);
    ``scalar`` operands are the same number for every parameter entry; ``bounds`` is a range the
    operand's value never leaves (``None`` when unbounded), used to skip needless protections.
    """

    name: str
    text: str
    latex: str
    doc: str
    buffers: tuple[str, ...] = ()
    scalar: bool = False
    bounds: Optional[tuple[float, float]] = None


WEIGHT_SCALES = ("1e-4", "1e-3", "1e-2", "1e-1")

OPERANDS: tuple[OperandSpec, ...] = (
    OperandSpec("g", "g", "g", "the gradient"),
    OperandSpec("g2", "g2", "g^2", "the squared gradient g²"),
    OperandSpec("g3", "g3", "g^3", "the cubed gradient g³"),
    OperandSpec("m", "m", r"\hat m", "running average of g (β₁ = 0.9), bias-corrected: m̂", ("m",)),
    OperandSpec("v", "v", r"\hat v", "running average of g² (β₂ = 0.999), bias-corrected: v̂", ("v",)),
    OperandSpec("y", "y", r"\hat y", "running average of g³ (β₃ = 0.999), bias-corrected: ŷ", ("y",)),
    OperandSpec("1", "1", "1", "the constant 1", scalar=True, bounds=(1.0, 1.0)),
    OperandSpec("2", "2", "2", "the constant 2", scalar=True, bounds=(2.0, 2.0)),
    OperandSpec("noise", "noise", r"\epsilon", "Gaussian noise ε ~ N(0, 0.01) (0.01 is the variance)"),
    OperandSpec(
        "anoise", "anoise", r"\epsilon_t", "annealed Gaussian noise ε_t ~ N(0, 1/(1+t)^0.55)"
    ),
    *(
        OperandSpec(f"{s}*w", f"{s} * w", rf"10^{{{int(math.log10(float(s)))}}} w", f"weight term {s}·w")
        for s in WEIGHT_SCALES
    ),
    OperandSpec(
        "adam",
        "adam",
        r"\text{Adam}",
        "Adam's update direction m̂ / (√v̂ + ε) (ε = 1e-8; float16: 6.1e-5)",
        ("m", "v"),
    ),
    OperandSpec(
        "rmsprop",
        "rmsprop",
        r"\text{RMSProp}",
        "RMSProp's update direction g / (√r + ε), r the running average of g² (decay 0.99, as torch; ε as Adam's)",
        ("r",),
    ),
    OperandSpec(
        "ld", "ld", r"\text{ld}", "linear decay max(0, 1 − t/T) (TF sign_decay)", scalar=True, bounds=(0.0, 1.0)
    ),
    OperandSpec(
        "cd",
        "cd",
        r"\text{cd}",
        "cyclical cosine decay 0.5·(1 + cos(2π·n·t/T)), n = 0.5 (TF sign_decay)",
        scalar=True,
        bounds=(0.0, 1.0),
    ),
    OperandSpec(
        "rd",
        "rd",
        r"\text{rd}",
        "restart decay 0.5·(1 + cos(π·((n·t) mod T)/T)), n = 1 (TF sign_decay)",
        scalar=True,
        bounds=(0.0, 1.0),
    ),
)
OPERAND_BY_NAME: dict[str, OperandSpec] = {op.name: op for op in OPERANDS}

# sign(g) and sign(m) are operands of the controller's vocabulary; in a tree they are the unary
# sign applied to g or m, so the two spellings of one rule are one Expr.
SIGN_OPERANDS: tuple[str, ...] = ("sign(g)", "sign(m)")


# ---------------------------------------------------------------------------------------------
# Unary functions
# ---------------------------------------------------------------------------------------------
def identity(x: Tensor, generator: Optional[torch.Generator] = None) -> Tensor:
    """x."""
    return x


def negate(x: Tensor, generator: Optional[torch.Generator] = None) -> Tensor:
    """−x."""
    return -x


def protected_exp(
    x: Tensor, generator: Optional[torch.Generator] = None, *, limit: Optional[float] = None
) -> Tensor:
    """e^min(x, c): never overflows; c = 80, or ≈ 10.09 in float16 (``exp_limit``; ``limit`` overrides)."""
    return torch.exp(torch.clamp(x, max=exp_limit(x.dtype) if limit is None else limit))


def protected_log(x: Tensor, generator: Optional[torch.Generator] = None, delta: float = DELTA) -> Tensor:
    """log(|x| + δ): finite at 0 and for negatives; δ = 1e-8, or 6.1e-5 in float16 (``safe_delta``)."""
    return torch.log(torch.abs(x) + safe_delta(delta, x.dtype))


def protected_sqrt(x: Tensor, generator: Optional[torch.Generator] = None) -> Tensor:
    """√|x|: defined for negatives; it needs no constant, so it is the same in every dtype."""
    return torch.sqrt(torch.abs(x))


def sign(x: Tensor, generator: Optional[torch.Generator] = None) -> Tensor:
    """sign(x) ∈ {−1, 0, 1}."""
    return torch.sign(x)


def make_clip(bound: float) -> Callable[..., Tensor]:
    """clip(x, c) = min(max(x, −c), c)."""

    def clip(x: Tensor, generator: Optional[torch.Generator] = None) -> Tensor:
        return torch.clamp(x, -bound, bound)

    clip.__doc__ = f"clip(x, {bound:g}) = min(max(x, −{bound:g}), {bound:g})."
    return clip


def dropout_mask(x: Tensor, p: float, generator: Optional[torch.Generator]) -> Tensor:
    """A {0, 1/(1−p)} mask shaped like ``x``: an entry survives with probability 1 − p.

    The draws fill the mask in logical (row-major) order whatever ``x``'s memory layout, so the
    same generator gives the same mask for equal shapes (a gradient's strides vary with how it
    was computed: by autograd, or gathered from a larger stack).
    """
    keep = torch.empty(x.shape, dtype=x.dtype, device=x.device).bernoulli_(1.0 - p, generator=generator)
    return keep.mul_(1.0 / (1.0 - p))


def make_drop(p: float) -> Callable[..., Tensor]:
    """drop(x, p): inverted dropout as TensorFlow's ``tf.nn.dropout`` (survivors scaled by 1/(1−p))."""

    def drop(x: Tensor, generator: Optional[torch.Generator] = None) -> Tensor:
        return x * dropout_mask(x, p, generator)

    drop.__doc__ = f"drop(x, {p:g}): zero each entry with probability {p:g}, scale survivors by 1/(1−{p:g})."
    return drop


@dataclass(frozen=True)
class UnarySpec:
    """A unary function: ``name`` is its token; ``param`` the clip bound or drop rate if any."""

    name: str
    text: str  # the function name in text ("exp", "clip"); "-" for negation, "" for identity
    latex: str  # a format with {x} (and {p} for the parameter)
    fn: Callable[..., Tensor]
    param: Optional[float] = None
    param_text: Optional[str] = None

    @property
    def doc(self) -> str:
        return (self.fn.__doc__ or "").strip()


CLIP_BOUNDS = ("1e-5", "1e-4", "1e-3")
DROP_RATES = ("0.1", "0.3", "0.5")

UNARIES: tuple[UnarySpec, ...] = (
    UnarySpec("id", "", "{x}", identity),
    UnarySpec("neg", "-", "-{x}", negate),
    UnarySpec("exp", "exp", "e^{{{x}}}", protected_exp),
    UnarySpec("log", "log", r"\log|{x}|", protected_log),
    UnarySpec("sqrt", "sqrt", r"\sqrt{{|{x}|}}", protected_sqrt),
    *(
        UnarySpec(
            f"clip{c}",
            "clip",
            r"\text{{clip}}({x}, 10^{{" + str(int(math.log10(float(c)))) + "}})",
            make_clip(float(c)),
            float(c),
            c,
        )
        for c in CLIP_BOUNDS
    ),
    *(
        UnarySpec(f"drop{p}", "drop", r"\text{{drop}}({x}, " + p + ")", make_drop(float(p)), float(p), p)
        for p in DROP_RATES
    ),
    UnarySpec("sign", "sign", r"\text{{sign}}({x})", sign),
)
UNARY_BY_NAME: dict[str, UnarySpec] = {u.name: u for u in UNARIES}


# ---------------------------------------------------------------------------------------------
# Binary functions
# ---------------------------------------------------------------------------------------------
def add(x: Tensor, y: Tensor, delta: float = DELTA) -> Tensor:
    """x + y."""
    return x + y


def subtract(x: Tensor, y: Tensor, delta: float = DELTA) -> Tensor:
    """x − y."""
    return x - y


def multiply(x: Tensor, y: Tensor, delta: float = DELTA) -> Tensor:
    """x · y."""
    return x * y


def away_from_zero(y: Tensor, delta: float) -> Tensor:
    """y + δ for y ≥ 0 and y − δ for y < 0, so the result is never closer to 0 than δ."""
    return torch.where(y < 0, y - delta, y + delta)


def protected_divide(x: Tensor, y: Tensor, delta: float = DELTA) -> Tensor:
    """x / (y ± δ), δ pushed away from zero so the denominator is at least δ; δ = 1e-8 (float16: 6.1e-5).

    δ is ``safe_delta(delta, dtype)`` for the dtype of the quotient.
    """
    return x / away_from_zero(y, safe_delta(delta, torch.result_type(x, y)))


def protected_power(x: Tensor, y: Tensor, delta: float = DELTA, *, limit: Optional[float] = None) -> Tensor:
    """x ^ y as the odd extension s(x)·e^min(y·log(|x| + δ), c), s(x) = −1 if x < 0 else 1; δ, c as for / and exp.

    For the dtype of the result, δ = ``safe_delta(delta, dtype)`` and c = ``exp_limit(dtype)``
    (``limit`` overrides): 1e-8 and 80, or 6.1e-5 and ≈ 10.09 in float16.
    """
    dtype = torch.result_type(x, y)
    limit = exp_limit(dtype) if limit is None else limit
    magnitude = torch.exp(torch.clamp(y * torch.log(torch.abs(x) + safe_delta(delta, dtype)), max=limit))
    return torch.where(x < 0, -magnitude, magnitude)


def keep_left(x: Tensor, y: Tensor, delta: float = DELTA) -> Tensor:
    """x: keep the left operand, ignore the right one."""
    return x


@dataclass(frozen=True)
class BinarySpec:
    """A binary function: ``name`` is its token, ``symbol`` its infix text (``None`` for ``keep``)."""

    name: str
    symbol: Optional[str]
    latex: str  # a format with {x} and {y}
    fn: Callable[..., Tensor]
    precedence: int
    commutative: bool = False

    @property
    def doc(self) -> str:
        return (self.fn.__doc__ or "").strip()


BINARIES: tuple[BinarySpec, ...] = (
    BinarySpec("add", "+", "{x} + {y}", add, 1, commutative=True),
    BinarySpec("sub", "-", "{x} - {y}", subtract, 1),
    BinarySpec("mul", "*", r"{x}\,{y}", multiply, 2, commutative=True),
    BinarySpec("div", "/", r"\frac{{{x}}}{{{y}}}", protected_divide, 2),
    BinarySpec("pow", "^", "{x}^{{{y}}}", protected_power, 4),
    BinarySpec("keep", None, r"\text{{keep}}({x}, {y})", keep_left, 5),
)
BINARY_BY_NAME: dict[str, BinarySpec] = {b.name: b for b in BINARIES}
BINARY_BY_SYMBOL: dict[str, BinarySpec] = {b.symbol: b for b in BINARIES if b.symbol}

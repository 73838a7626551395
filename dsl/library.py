"""Named rules, written in the language itself.

``NAMED_RULES`` maps a name to rule text: the classic optimizers, PowerSign and AddSign (with their
decayed and base-2 / α = 2 variants) and the sixteen rules of the paper's Wide ResNet table
(Bello et al. 2017, CIFAR-10, 300 epochs), whose reported accuracies are in :data:`PAPER_TABLE`.

Notes on the classics:

- ``sgd`` is ``g``.
- ``momentum`` is ``m``: the bias-corrected running average of g (β = 0.9), i.e. heavy-ball momentum
  with dampening. With ``bias_correction=False`` and a learning rate ``1/(1 − β)`` = 10 times larger it
  is exactly ``torch.optim.SGD(momentum=0.9)`` (the tests check this).
- ``adam`` and ``rmsprop`` are the operands of the same names: exactly ``torch.optim.Adam`` and
  ``torch.optim.RMSprop`` with their default hyper-parameters.
"""

from __future__ import annotations

from typing import NamedTuple

POWERSIGN = "exp(sign(g) * sign(m)) * g"
ADDSIGN = "(1 + sign(g) * sign(m)) * g"


class PaperResult(NamedTuple):
    """A row of the paper's Wide ResNet table (CIFAR-10 accuracy, %)."""

    rule: str
    final_val: float
    final_test: float
    best_val: float
    best_test: float


PAPER_BASELINES: dict[str, PaperResult] = {
    "sgd": PaperResult("g", 92.0, 91.8, 92.9, 91.9),
    "momentum": PaperResult("m", 92.7, 92.1, 93.1, 92.3),
    "adam": PaperResult("adam", 90.4, 90.1, 91.8, 90.7),
    "rmsprop": PaperResult("rmsprop", 90.7, 90.3, 91.4, 90.3),
}

PAPER_TABLE: tuple[PaperResult, ...] = (
    PaperResult("(exp(sign(g) * sign(m)) + clip(g, 1e-4)) * g", 92.5, 92.4, 93.8, 93.1),
    PaperResult("clip(m, 1e-4) * exp(v)", 93.5, 92.5, 93.8, 92.7),
    PaperResult("m * exp(v)", 93.1, 92.4, 93.8, 92.6),
    PaperResult("g * exp(sign(g) * sign(m))", 93.1, 92.8, 93.8, 92.8),
    PaperResult("drop(g, 0.3) * exp(sign(g) * sign(m))", 92.7, 92.2, 93.6, 92.7),
    PaperResult("m * exp(g2)", 93.1, 92.5, 93.6, 92.4),
    PaperResult("drop(m, 0.1) / exp(g2)", 92.6, 92.4, 93.5, 93.0),
    PaperResult("drop(g, 0.1) * exp(sign(g) * sign(m))", 92.8, 92.4, 93.5, 92.2),
    PaperResult("clip(rmsprop, 1e-5) + drop(m, 0.3)", 90.8, 90.8, 91.4, 90.9),
    PaperResult("adam * exp(sign(g) * sign(m))", 92.6, 92.0, 93.4, 92.0),
    PaperResult("adam * exp(m)", 92.9, 92.8, 93.3, 92.7),
    PaperResult("g + drop(m, 0.3)", 93.4, 92.9, 93.7, 92.9),
    PaperResult("drop(m, 0.1) * exp(g3)", 92.8, 92.7, 93.7, 92.8),
    PaperResult("g - clip(g2, 1e-4)", 93.4, 92.8, 93.7, 92.8),
    PaperResult("exp(g) - exp(m)", 93.2, 92.5, 93.5, 93.1),
    PaperResult("drop(m, 0.3) * exp(1e-3 * w)", 93.2, 93.0, 93.5, 93.2),
)

NAMED_RULES: dict[str, str] = {
    "sgd": "g",
    "momentum": "m",
    "adam": "adam",
    "rmsprop": "rmsprop",
    "powersign": POWERSIGN,
    "powersign-ld": "exp(ld * sign(g) * sign(m)) * g",
    "powersign-cd": "exp(cd * sign(g) * sign(m)) * g",
    "powersign-rd": "exp(rd * sign(g) * sign(m)) * g",
    "powersign2": "2 ^ (sign(g) * sign(m)) * g",
    "powersign2-ld": "2 ^ (ld * sign(g) * sign(m)) * g",
    "powersign2-cd": "2 ^ (cd * sign(g) * sign(m)) * g",
    "addsign": ADDSIGN,
    "addsign-ld": "(1 + ld * sign(g) * sign(m)) * g",
    "addsign-cd": "(1 + cd * sign(g) * sign(m)) * g",
    "addsign-rd": "(1 + rd * sign(g) * sign(m)) * g",
    "addsign2": "(2 + sign(g) * sign(m)) * g",
    "addsign2-ld": "(2 + ld * sign(g) * sign(m)) * g",
    **{f"paper-{i:02d}": row.rule for i, row in enumerate(PAPER_TABLE, start=1)},
}

BASELINE_NAMES: tuple[str, ...] = ("adam", "momentum", "sgd")

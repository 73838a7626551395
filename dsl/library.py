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

Reference rules (:data:`REFERENCE_RULES`, texts in :data:`REFERENCE_RULE_TEXTS`): known optimizers
the language writes **exactly**, as baselines for transfer and comparison. Beside the four classics:

- ``adamw`` is ``adam + 1e-2 * w``: ``torch.optim.AdamW`` with its defaults (decoupled weight decay
  0.01: torch shrinks w by ``lr · 0.01 · w`` before Adam's step, which is this rule's update).
- ``signsgd`` is ``sign(g)``: signSGD (Bernstein et al. 2018).
- ``signum`` is ``sign(m)``: Signum (Bernstein et al. 2018), the sign of the momentum
  m_t = β m_{t−1} + (1 − β) g_t with β = 0.9. The language's ``m`` is bias-corrected, m̂ = m / (1 − βᵗ),
  but a positive scale does not change a sign, so ``sign(m)`` is Signum exactly.
- ``signum-ld``, ``signum-cd``, ``signum-rd`` are ``ld * sign(m)``, ``cd * sign(m)``, ``rd * sign(m)``:
  Signum with TensorFlow's linear, cosine and restart sign decays, as PowerSign and AddSign use them.
  (With TF's defaults ``cd`` and ``rd`` coincide for t < T, so these two compute the same updates over
  a run of T steps.)

Known optimizers the language does **not** write exactly:

- **Lion** (Chen et al. 2023): w −= lr · (sign(c_t) + λ w) with c_t = β₁ m_{t−1} + (1 − β₁) g_t,
  β₁ = 0.9, and then m_t = β₂ m_{t−1} + (1 − β₂) g_t with β₂ = 0.99. The language has one running
  average of g, ``m``, with β = 0.9, already updated when a rule reads it (m_t = 0.9 m_{t−1} + 0.1 g_t);
  there is no average of g at 0.99 and no way to mix the previous average with the new gradient at
  another β (``rmsprop``'s 0.99 average is of g², not g; ``v`` and ``y`` average g² and g³ at 0.999).
  The bias correction is no obstacle (a sign ignores a positive scale), the second β is. With
  **β₁ = β₂ = 0.9**, though, c_t = 0.9 m_{t−1} + 0.1 g_t *is* the language's m_t, so Lion without
  weight decay is exactly ``signum`` = ``sign(m)``, and Lion with decoupled weight decay λ ∈
  {1e-4, 1e-3, 1e-2, 1e-1} is ``sign(m) + λ * w`` (e.g. ``sign(m) + 1e-2 * w``); the tests check the
  first against Lion written out.
- **Nesterov momentum** (``torch.optim.SGD(momentum=0.9, nesterov=True)``: update g + 0.9 b with
  b_t = 0.9 b_{t−1} + g_t): b = m / 0.1 when ``m`` is not bias-corrected, so it is
  ``g + (1 + 2 * 2 * 2) * m`` only under ``RuleConfig(bias_correction=False)``; with the default
  bias correction that text is a different rule in its first few dozen steps, so it is no reference rule
  (the tests check the equality under ``bias_correction=False``).
- **Adagrad** needs the sum of all g², not a decaying average; **AMSGrad** the running maximum of v̂;
  **Adamax** an infinity norm; **NAdam** a look-ahead m̂ with its own momentum schedule; **Adam with L2
  weight decay** (torch ``Adam(weight_decay=...)``) averages g + λw rather than g. None of these
  buffers exists, so none is expressible.
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

REFERENCE_RULE_TEXTS: dict[str, str] = {
    "sgd": NAMED_RULES["sgd"],
    "momentum": NAMED_RULES["momentum"],
    "adam": NAMED_RULES["adam"],
    "rmsprop": NAMED_RULES["rmsprop"],
    "adamw": "adam + 1e-2 * w",
    "signsgd": "sign(g)",
    "signum": "sign(m)",
    "signum-ld": "ld * sign(m)",
    "signum-cd": "cd * sign(m)",
    "signum-rd": "rd * sign(m)",
}
"""Known optimizers the language writes exactly (see the module notes), by name.

Kept apart from :data:`NAMED_RULES`, whose texts fix what the bench tables hold: pass a text of this
dict (or the dict itself, to the transfer report) where a rule is wanted.
"""

REFERENCE_RULES: tuple[str, ...] = tuple(REFERENCE_RULE_TEXTS)
# Every reference rule is also a named rule, so ``signum`` resolves wherever a name is accepted.
NAMED_RULES.update({name: text for name, text in REFERENCE_RULE_TEXTS.items() if name not in NAMED_RULES})
"""The names of :data:`REFERENCE_RULE_TEXTS`."""

"""The reference rules are the optimizers they are named after."""

from __future__ import annotations

import pytest
import torch

from dsl_reference import cosine_decay, linear_decay, restart_decay
from optsearch.dsl import NAMED_RULES, DSLOptimizer, RuleConfig, parse, to_text
from optsearch.dsl.library import REFERENCE_RULE_TEXTS, REFERENCE_RULES
from test_dsl_optimizer import assert_same_parameters, clone_model, make_problem, train_in_lockstep


@pytest.mark.parametrize("name", REFERENCE_RULES)
def test_every_reference_rule_parses_and_prints_back(name):
    text = REFERENCE_RULE_TEXTS[name]
    assert to_text(parse(text)) == text
    assert NAMED_RULES[name] == text  # every reference rule resolves by its name


def test_reference_rules_include_the_classics_and_the_sign_rules():
    assert {"sgd", "momentum", "adam", "rmsprop", "adamw", "signsgd", "signum", "signum-ld", "signum-cd"} <= set(REFERENCE_RULES)
    assert REFERENCE_RULE_TEXTS["signum"] == "sign(m)" and REFERENCE_RULE_TEXTS["signsgd"] == "sign(g)"


class SignOptimizer:
    """Lion (Chen et al. 2023) written out; with ``beta2 = beta1`` and no decay it is Signum.

    c = β₁ m + (1 − β₁) g; w −= lr · (f(t) · sign(c) + λ w); m = β₂ m + (1 − β₂) g. ``decay`` is a
    TF sign decay f of t (0 on the first update); ``momentum=False`` gives signSGD.
    """

    def __init__(self, params, lr, beta1=0.9, beta2=0.99, weight_decay=0.0, decay=None, total_steps=None, momentum=True):
        self.params = list(params)
        self.lr, self.beta1, self.beta2, self.weight_decay = lr, beta1, beta2, weight_decay
        self.decay, self.total_steps, self.momentum = decay, total_steps, momentum
        self.m = [torch.zeros_like(p) for p in self.params]
        self.t = 0

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self):
        f = 1.0 if self.decay is None else self.decay(self.t, self.total_steps)
        for p, m in zip(self.params, self.m):
            g = p.grad
            c = self.beta1 * m + (1 - self.beta1) * g if self.momentum else g
            p.sub_(self.lr * (f * torch.sign(c) + self.weight_decay * p))
            m.mul_(self.beta2).add_((1 - self.beta2) * g)
        self.t += 1


def _lockstep(rule, reference, steps=60, total_steps=None, config=RuleConfig(), lr=1e-2):
    model, x, y = make_problem(6, dtype=torch.float64)
    twin = clone_model(model)
    ours = DSLOptimizer(model.parameters(), rule, lr=lr, total_steps=total_steps, config=config)
    return train_in_lockstep(model, [(ours, model), (reference(twin.parameters()), twin)], x, y, steps=steps)


@pytest.mark.parametrize(
    "name, reference",
    [
        ("signsgd", lambda ps: SignOptimizer(ps, 1e-2, momentum=False)),
        ("signum", lambda ps: SignOptimizer(ps, 1e-2, beta1=0.9, beta2=0.9)),  # = Lion with β₁ = β₂ = 0.9
        ("signum-ld", lambda ps: SignOptimizer(ps, 1e-2, 0.9, 0.9, decay=linear_decay, total_steps=40)),
        pytest.param(
            "signum-cd", lambda ps: SignOptimizer(ps, 1e-2, 0.9, 0.9, decay=cosine_decay, total_steps=40), marks=pytest.mark.slow
        ),
        pytest.param(
            "signum-rd", lambda ps: SignOptimizer(ps, 1e-2, 0.9, 0.9, decay=restart_decay, total_steps=40), marks=pytest.mark.slow
        ),
        pytest.param("adamw", lambda ps: torch.optim.AdamW(ps, lr=1e-2), marks=pytest.mark.slow),
        ("adam", lambda ps: torch.optim.Adam(ps, lr=1e-2)),
    ],
)
def test_reference_rules_equal_their_optimizers(name, reference):
    mine, theirs = _lockstep(REFERENCE_RULE_TEXTS[name], reference, total_steps=40)
    assert_same_parameters(mine, theirs)


@pytest.mark.slow
def test_lion_with_weight_decay_and_equal_betas_is_signum_plus_a_weight_term():
    mine, theirs = _lockstep("sign(m) + 1e-2 * w", lambda ps: SignOptimizer(ps, 1e-2, 0.9, 0.9, weight_decay=1e-2))
    assert_same_parameters(mine, theirs)


@pytest.mark.parametrize(
    "rule, reference",
    [
        # Lion's default β₂ = 0.99 is not the language's m
        pytest.param("sign(m)", lambda ps: SignOptimizer(ps, 1e-2), marks=pytest.mark.slow),
        pytest.param("sign(m)", lambda ps: SignOptimizer(ps, 1e-2, momentum=False), marks=pytest.mark.slow),
        pytest.param("adam + 1e-3 * w", lambda ps: torch.optim.AdamW(ps, lr=1e-2), marks=pytest.mark.slow),  # the wrong decay
    ],
)
def test_the_comparisons_can_fail(rule, reference):
    mine, theirs = _lockstep(rule, reference)
    with pytest.raises(AssertionError):
        assert_same_parameters(mine, theirs)


@pytest.mark.slow
def test_nesterov_is_expressible_only_without_bias_correction():
    rule = "g + (1 + 2 * 2 * 2) * m"  # g + 0.9 b with b = m / 0.1
    nesterov = lambda ps: torch.optim.SGD(ps, lr=1e-2, momentum=0.9, nesterov=True)  # noqa: E731
    mine, theirs = _lockstep(rule, nesterov, config=RuleConfig(bias_correction=False))
    assert_same_parameters(mine, theirs)
    mine, theirs = _lockstep(rule, nesterov, steps=5)
    with pytest.raises(AssertionError):
        assert_same_parameters(mine, theirs)

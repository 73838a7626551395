"""Population training: many different rules in one stacked child give each rule its result alone.

Everything here trains for real (digits with few steps, the quadratic). Faults that no real rule
produces on demand (a rule that raises, one that hangs, a population that runs out of memory)
are injected into the real trainer with ``monkeypatch``, the rest of the path running as it is.
"""

from __future__ import annotations

import math
import time

import pytest
import torch

from optsearch.dsl import resolve_rule
from optsearch.dsl.compiler import UpdateRule
from optsearch.evaluation.config import EvalConfig
from optsearch.evaluation.evaluator import Evaluator
from optsearch.evaluation.executor import SerialExecutor
from optsearch.evaluation.grouping import default_population_size, group_rules
from optsearch.evaluation.records import ERROR, HURDLE, OK, PRUNED, TIMEOUT
from optsearch.evaluation.tasks import get_task
from optsearch.evaluation.training import RuleFailure, train_rule, train_rules
from optsearch.evaluation.training.problems import ChildProblem

#: Good rules, rules with their own randomness (noise, drop), a schedule, weight terms, and rules
#: whose copies diverge or turn NaN at different steps, so copies leave the stack throughout.
MIXED = (
    "adam",
    "g",
    "-g",
    "g / (g - g)",
    "drop(m, 0.3) * exp(1e-3 * w)",
    "g + noise",
    "ld * adam",
    "exp(g) * 1e-1 * w",
    "rmsprop",
    "exp(sign(g) * sign(m)) * g",
)


def same(a, b) -> bool:
    """Equal results, bit for bit (repr: a NaN final loss equals a NaN final loss)."""
    return repr(a) == repr(b)


@pytest.fixture(scope="module")
def digits():
    return get_task("digits")


@pytest.mark.parametrize(
    "task_name, kwargs",
    [
        pytest.param("digits", dict(steps=30, batch_size=32, halving=((5, 3),), hurdle=(4, 0.3)), marks=pytest.mark.slow),
        ("quadratic", dict(halving=((100, 2),))),
    ],
)
def test_a_population_gives_every_rule_exactly_its_result_alone(task_name, kwargs):
    task = get_task(task_name)
    together = train_rules(MIXED, task, seed=7, time_limit_s=math.inf, **kwargs)
    statuses = set()
    for rule, result in zip(MIXED, together):
        alone = train_rule(rule, task, seed=7, time_limit_s=math.inf, **kwargs)
        assert same(result, alone), rule
        statuses |= {r.status for r in result}
    assert {OK, PRUNED} <= statuses and statuses & {"nan", "diverged"}  # copies left the stack


def test_dropout_draws_the_same_mask_when_a_neighbours_copy_leaves_the_stack():
    """adam's copy at rate 1 diverges at step 2 on mnist1d: the stack's gradients are gathered
    anew then, with other strides than autograd's, and ``drop``'s mask must not follow them."""
    task = get_task("mnist1d")
    kwargs = dict(seed=0, steps=5, halving=(), time_limit_s=math.inf)
    rule = "drop(g, 0.1) * exp(sign(g) * sign(m))"
    together = train_rules([rule, "adam"], task, **kwargs)
    assert any(r.status == "diverged" and r.steps == 1 for r in together[1])
    assert same(together[0], train_rule(rule, task, **kwargs))


@pytest.mark.slow
def test_the_order_of_the_population_does_not_matter(digits):
    kwargs = dict(steps=20, batch_size=32, seed=3, time_limit_s=math.inf)
    forward = train_rules(MIXED[:6], digits, **kwargs)
    backward = train_rules(MIXED[:6][::-1], digits, **kwargs)
    assert same(forward, backward[::-1])


def test_a_rule_that_raises_ends_alone_and_the_others_train_on(digits, monkeypatch):
    original = UpdateRule.directions

    def directions(self, params, grads, buffers, **kwargs):
        if str(self.expr) == "sign(m)" and kwargs["step"] == 3:
            raise FloatingPointError("injected")
        return original(self, params, grads, buffers, **kwargs)

    monkeypatch.setattr(UpdateRule, "directions", directions)
    kwargs = dict(steps=10, batch_size=32, seed=1, lrs=(1e-3, 1e-2))
    adam, failed, powersign, broken = train_rules(["adam", "sign(m)", "powersign", "clip(g, 7)"], digits, **kwargs)
    assert isinstance(failed, RuleFailure) and failed.step == 3 and "FloatingPointError: injected" in str(failed)
    assert isinstance(broken, RuleFailure) and "clip bound" in str(broken)  # cannot even compile
    assert same(adam, train_rule("adam", digits, **kwargs))
    assert same(powersign, train_rule("powersign", digits, **kwargs))
    with pytest.raises(RuleFailure, match="injected"):
        train_rule("sign(m)", digits, **kwargs)


def test_hurdle_and_halving_judge_each_rule_on_its_own_copies(digits):
    kwargs = dict(steps=20, batch_size=32, seed=2, hurdle=(5, 0.5), halving=((10, 1),), lrs=(1e-3, 1e-2, 1e-1))
    strong, weak = train_rules(["adam", "1e-4 * w"], digits, **kwargs)
    assert {r.status for r in weak} == {HURDLE}  # a rule that cannot learn stops at the hurdle
    assert sorted(r.status for r in strong) == [OK, PRUNED, PRUNED] and all(r.steps in (10, 20) for r in strong)
    assert same(strong, train_rule("adam", digits, **kwargs))


def test_a_rule_that_hangs_times_out_alone(digits, monkeypatch):
    original = UpdateRule.directions

    def directions(self, params, grads, buffers, **kwargs):
        if str(self.expr) == "sign(m)":
            time.sleep(0.05)
        return original(self, params, grads, buffers, **kwargs)

    monkeypatch.setattr(UpdateRule, "directions", directions)
    kwargs = dict(steps=30, batch_size=32, seed=1, lrs=(1e-3, 1e-2))
    slow, adam = train_rules(["sign(m)", "adam"], digits, time_limit_s=0.5, **kwargs)
    assert {r.status for r in slow} == {TIMEOUT} and all(r.steps < 30 for r in slow)
    assert {r.status for r in adam} == {OK}
    assert same(adam, train_rule("adam", digits, time_limit_s=math.inf, **kwargs))


def test_group_rules_splits_a_batch_in_balanced_groups_one_at_least_per_worker():
    assert group_rules(0, 8, 2) == []
    assert group_rules(8, 8, 1) == [list(range(8))]
    assert group_rules(8, 8, 2) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert [len(g) for g in group_rules(7, 3, 1)] == [3, 2, 2]
    assert [len(g) for g in group_rules(20, 8, 2)] == [7, 7, 6]
    assert group_rules(3, 8, 4) == [[0], [1], [2]]
    assert default_population_size("cpu") < default_population_size("cuda:0")
    with pytest.raises(ValueError):
        group_rules(3, 0, 1)


class RecordingExecutor(SerialExecutor):
    """The real serial backend, noting the payloads it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.payloads: list = []

    def run(self, fn, payloads):
        self.payloads += list(payloads)
        return super().run(fn, payloads)


BATCH = ("adam", "g", "powersign", "rmsprop", "g + noise", "momentum", "addsign")


def test_the_evaluator_sends_a_batch_as_populations_with_the_same_results_as_one_by_one(tmp_path):
    executor = RecordingExecutor()
    config = EvalConfig(task="quadratic", steps=100, population_size=3)
    with Evaluator(config, backend=executor) as evaluator:
        grouped = evaluator.evaluate([resolve_rule(r) for r in BATCH], seed=4)
    assert [len(p.rules) for p in executor.payloads] == [3, 2, 2]
    assert [rule for p in executor.payloads for rule in p.rules] == [str(resolve_rule(r)) for r in BATCH]
    with Evaluator(EvalConfig(task="quadratic", steps=100, population_size=1)) as evaluator:
        alone = evaluator.evaluate([resolve_rule(r) for r in BATCH], seed=4)
    for a, b in zip(grouped, alone):
        assert (a.status, a.reward, a.lr, a.cost, a.config_hash) == (b.status, b.reward, b.lr, b.cost, b.config_hash)
        assert same(a.per_lr, b.per_lr)


@pytest.mark.slow
def test_the_process_backend_trains_one_population_per_worker(tmp_path):
    batch = [resolve_rule(r) for r in BATCH[:4]]
    config = EvalConfig(task="quadratic", steps=100, population_size=8)
    with Evaluator(config, backend="process", workers=2) as evaluator:
        assert evaluator.executor.workers == 2 and group_rules(len(batch), 8, 2) == [[0, 1], [2, 3]]
        parallel = evaluator.evaluate(batch, seed=5)
    with Evaluator(EvalConfig(task="quadratic", steps=100, population_size=1)) as evaluator:
        serial = evaluator.evaluate(batch, seed=5)
    assert [(r.status, r.reward) for r in parallel] == [(r.status, r.reward) for r in serial]
    assert all(same(a.per_lr, b.per_lr) for a, b in zip(parallel, serial))


def test_a_population_that_fails_as_a_whole_is_retried_one_rule_at_a_time(monkeypatch):
    """E.g. a population too big for the device's memory: each rule gets its own chance."""
    original = ChildProblem.gradients

    def gradients(self, step, params):
        if self.model.copies > 3:
            raise RuntimeError("out of memory (injected)")
        return original(self, step, params)

    monkeypatch.setattr(ChildProblem, "gradients", gradients)
    executor = RecordingExecutor()
    config = EvalConfig(task="digits", steps=10, lrs=(1e-3, 1e-2, 1e-1), screen=False, hurdle=False, population_size=3)
    with Evaluator(config, backend=executor) as evaluator:
        results = evaluator.evaluate([resolve_rule(r) for r in ("adam", "g", "sign(m)")], seed=0)
    assert [len(p.rules) for p in executor.payloads] == [3, 1, 1, 1]
    assert [r.status for r in results] == [OK, OK, OK]
    assert evaluator.trainings == 3


def test_a_rule_that_raises_in_a_population_is_recorded_as_the_same_error_as_alone(monkeypatch):
    original = UpdateRule.directions

    def directions(self, params, grads, buffers, **kwargs):
        if str(self.expr) == "sign(m)" and kwargs["total_steps"] == 50:  # in training, not in the fingerprint's probe
            raise FloatingPointError("injected")
        return original(self, params, grads, buffers, **kwargs)

    monkeypatch.setattr(UpdateRule, "directions", directions)
    config = EvalConfig(task="quadratic", steps=50, screen=False)
    outcomes = {}
    for size in (1, 3):
        with Evaluator(EvalConfig(**{**config.__dict__, "population_size": size})) as evaluator:
            outcomes[size] = evaluator.evaluate([resolve_rule(r) for r in ("adam", "sign(m)", "g")], seed=0)
    for a, b in zip(outcomes[1], outcomes[3]):
        assert (a.status, a.reward, a.cost, a.detail) == (b.status, b.reward, b.cost, b.detail)
    assert outcomes[3][1].status == ERROR and "error: RuleFailure" in outcomes[3][1].detail
    assert [r.status for r in outcomes[3]][::2] == [OK, OK]


def test_population_size_and_device_do_not_enter_the_cache_key_but_a_gpu_does():
    base = EvalConfig(task="quadratic")
    assert base.config_hash() == EvalConfig(task="quadratic", population_size=16, device="cpu").config_hash()
    assert base.config_hash() != EvalConfig(task="quadratic", device="cuda").config_hash()
    with pytest.raises(ValueError, match="population_size"):
        Evaluator(EvalConfig(task="quadratic", population_size=0))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_population_on_cuda_matches_its_rules_alone_on_cuda(digits):
    kwargs = dict(steps=20, batch_size=32, seed=1, time_limit_s=math.inf, device="cuda")
    together = train_rules(MIXED, digits, **kwargs)
    for rule, result in zip(MIXED, together):
        alone = train_rule(rule, digits, **kwargs)
        assert [r.status for r in result] == [r.status for r in alone], rule
        assert [r.val_acc for r in result] == pytest.approx([r.val_acc for r in alone], abs=1e-6), rule

"""The child networks and train_rule: real (tiny) trainings that can fail."""

from __future__ import annotations


import pytest
import torch
import torch.nn.functional as F

from optsearch.dsl import DSLOptimizer, Operand, compile_rule, parse
from optsearch.evaluation.training import stacked as stacked_module
from optsearch.evaluation.training.stack_loop import Member
from optsearch.evaluation.training.child import ChildSpec, StackedChild, make_child
from optsearch.evaluation.records import DIVERGED, HURDLE, NAN, OK, STATUSES, TIMEOUT, LRResult
from optsearch.evaluation.tasks import get_task
from optsearch.evaluation.training import RuleFailure, train_rule

SPECS = [
    pytest.param(ChildSpec(1, (8, 8), 10), id="digits-2d"),
    pytest.param(ChildSpec(1, (40,), 10), id="mnist1d-1d"),
    pytest.param(ChildSpec(3, (16, 16), 10, pool=True), id="rgb-pool"),
]


def _input(spec: ChildSpec, batch: int, seed: int = 0) -> torch.Tensor:
    x = torch.randn(batch, spec.in_channels, *spec.spatial, generator=torch.Generator().manual_seed(seed))
    return x.contiguous(memory_format=torch.channels_last) if spec.dims == 2 else x


def _perturbed_stack(spec: ChildSpec, copies: int) -> StackedChild:
    stacked = StackedChild(spec, copies, seed=3)
    gen = torch.Generator().manual_seed(4)
    with torch.no_grad():  # give every copy different weights
        for p in stacked.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=gen))
    return stacked


# ------------------------------------------------------------------------------------------------
# The child
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("spec", SPECS)
def test_stacked_copy_equals_an_independent_child(spec):
    copies = 3
    stacked = _perturbed_stack(spec, copies)
    children = [stacked.copy(k) for k in range(copies)]
    x = _input(spec, 12)
    y = torch.randint(0, 10, (12,), generator=torch.Generator().manual_seed(5))

    out = stacked(x)  # training mode: batch statistics, running statistics updated
    assert out.shape == (12, copies, 10)
    loss = sum(F.cross_entropy(out[:, k], y) for k in range(copies))
    grads = dict(zip([n for n, _ in stacked.named_parameters()], torch.autograd.grad(loss, list(stacked.parameters()))))
    for k, child in enumerate(children):
        ref = child(x)
        assert torch.allclose(out[:, k], ref, atol=1e-4, rtol=1e-4)
        # gradients of copy k = gradients of the independent child
        child_grads = torch.autograd.grad(F.cross_entropy(ref, y), list(child.parameters()))
        named = dict(zip([n for n, _ in child.named_parameters()], child_grads))
        assert torch.allclose(grads["conv1_weight"][k], named["conv1.weight"], atol=1e-4, rtol=1e-3)
        assert torch.allclose(grads["conv2_weight"][k], named["conv2.weight"], atol=1e-4, rtol=1e-3)
        assert torch.allclose(grads["bn1_weight"][k], named["bn1.weight"], atol=1e-4, rtol=1e-3)
        assert torch.allclose(grads["bn2_bias"][k], named["bn2.bias"], atol=1e-4, rtol=1e-3)
        assert torch.allclose(grads["head_bias"][k], named["linear.bias"], atol=1e-5)
        head = grads["head_weight"][k].transpose(1, 2).reshape(10, -1)
        assert torch.allclose(head, named["linear.weight"], atol=1e-4, rtol=1e-3)
        # running statistics updated like the child's
        assert torch.allclose(stacked.bn2_mean[k], child.bn2.running_mean, atol=1e-5)
        assert torch.allclose(stacked.bn1_var[k], child.bn1.running_var, atol=1e-5)
    # evaluation mode uses the running statistics, per copy
    stacked.eval()
    out = stacked(x)
    for k, child in enumerate(children):
        child.eval()
        assert torch.allclose(out[:, k], child(x), atol=1e-4, rtol=1e-4)


def test_stacked_copies_start_identical_and_seeded():
    spec = ChildSpec(1, (8, 8), 10)
    stacked = StackedChild(spec, 4, seed=11)
    for p in stacked.parameters():
        assert all(torch.equal(p[0], p[k]) for k in range(4))
    reference = make_child(spec, 11)
    assert torch.equal(stacked.copy(2).conv2.weight, reference.conv2.weight)
    assert torch.equal(stacked.copy(0).linear.weight, reference.linear.weight)
    assert not torch.equal(StackedChild(spec, 1, seed=12).conv1_weight[0], stacked.conv1_weight[0])
    # independent of torch's global generator
    torch.manual_seed(0)
    a = StackedChild(spec, 1, seed=11).head_weight
    torch.manual_seed(1)
    assert torch.equal(a, StackedChild(spec, 1, seed=11).head_weight)


def test_one_copy_with_nan_weights_does_not_touch_the_others():
    spec = ChildSpec(1, (8, 8), 10)
    stacked = _perturbed_stack(spec, 3)
    x = _input(spec, 16)
    clean = stacked(x).detach()
    with torch.no_grad():
        stacked.conv2_weight[1].fill_(float("nan"))
        stacked.head_weight[1, 0, 0, 0] = float("inf")
    out = stacked(x)
    loss = F.cross_entropy(out.permute(0, 2, 1), torch.zeros(16, 3, dtype=torch.long), reduction="none").mean(0)
    grads = torch.autograd.grad(loss.sum(), list(stacked.parameters()))
    assert torch.isnan(out[:, 1]).all()
    for k in (0, 2):
        assert torch.equal(out[:, k], clean[:, k])
        assert all(torch.isfinite(g[k]).all() for g in grads)


def test_stacked_update_equals_dsl_optimizer_per_learning_rate():
    """``w -= lr_k * direction`` on the stack = DSLOptimizer on each copy alone."""
    spec = ChildSpec(1, (8, 8), 10)
    lrs = [1e-3, 1e-2, 1e-1]
    rule_text = "m * exp(g2)"  # smooth in g (a sign(g) flips on rounding noise where g ≈ 0)
    stacked = StackedChild(spec, len(lrs), seed=1)
    children = [stacked.copy(k) for k in range(len(lrs))]
    optimizers = [DSLOptimizer(c.parameters(), rule_text, lr=lr) for c, lr in zip(children, lrs)]
    params = list(stacked.parameters())
    member = Member(compile_rule(parse(rule_text)), rule_text, lrs, rule_seed=0, device=torch.device("cpu"))
    member.start(params)
    gen = torch.Generator().manual_seed(0)
    for step in range(1, 4):
        x = _input(spec, 16, seed=step)
        y = torch.randint(0, 10, (16,), generator=gen)
        logits = stacked(x)
        losses = F.cross_entropy(logits.permute(0, 2, 1), y[:, None].expand(-1, len(lrs)), reduction="none").mean(0)
        grads = torch.autograd.grad(losses.sum(), params)
        with torch.no_grad():
            member.update(params, list(grads), step, total_steps=3)
        for child, opt in zip(children, optimizers):
            opt.zero_grad()
            F.cross_entropy(child(x), y).backward()
            opt.step()
    for k, child in enumerate(children):
        copy = stacked.copy(k)
        for (name, a), b in zip(copy.named_parameters(), child.parameters()):
            assert torch.allclose(a, b, atol=1e-5, rtol=1e-4), (k, name, (a - b).abs().max())


# ------------------------------------------------------------------------------------------------
# train_rule on digits
# ------------------------------------------------------------------------------------------------
LRS = (1e-3, 1e-2, 1e-1)
SMALL = dict(steps=60, batch_size=32, seed=0)


def _reward(results: tuple[LRResult, ...]) -> float:
    return max(r.val_acc for r in results)


@pytest.fixture(scope="module")
def digits():
    return get_task("digits")


def test_adam_learns_digits_and_minus_g_does_not(digits):
    adam = train_rule("adam", digits, lrs=LRS, **SMALL)
    assert len(adam) == len(LRS) and [r.lr for r in adam] == list(LRS)
    assert all(isinstance(r, LRResult) and r.status in STATUSES for r in adam)
    assert _reward(adam) > 0.8  # chance is 0.1
    best = max(adam, key=lambda r: r.val_acc)
    assert best.status == OK and best.steps == SMALL["steps"] and 0.5 < best.test_acc <= 1.0
    assert best.final_loss < 1.0

    ascent = train_rule("-g", digits, lrs=LRS, **SMALL)
    assert _reward(ascent) < 0.25
    for r in ascent:
        assert r.status in (OK, DIVERGED, NAN)
        if r.status != OK:
            assert r.val_acc == 0.0 and r.test_acc == 0.0 and r.steps < SMALL["steps"]
    assert any(r.status == DIVERGED for r in ascent)
    # each record belongs to its own learning rate: ascent blows up sooner at larger rates
    assert ascent[0].steps >= ascent[1].steps >= ascent[2].steps and ascent[0].steps > ascent[2].steps


def test_train_rule_is_deterministic_and_seeded(digits):
    kwargs = dict(lrs=(1e-2,), steps=20, batch_size=32)
    torch.manual_seed(0)
    a = train_rule("adam", digits, seed=3, **kwargs)
    torch.manual_seed(1)  # the global generator plays no part
    b = train_rule("adam", digits, seed=3, **kwargs)
    assert a == b
    c = train_rule("adam", digits, seed=4, **kwargs)
    assert c[0].final_loss != a[0].final_loss
    # rules with their own randomness are reproducible too
    assert train_rule("drop(g, 0.3) + noise", digits, seed=3, **kwargs) == train_rule(
        "drop(g, 0.3) + noise", digits, seed=3, **kwargs
    )


@pytest.mark.parametrize("task_name", ["digits", pytest.param("mnist1d", marks=pytest.mark.slow)])
def test_in_place_relu_changes_no_number(task_name, monkeypatch):
    # The faster child (issue #16) must keep the trainer's numbers, so that TRAINER_VERSION and
    # the bench's table stay valid: every field of every rate, with rates that diverge and are
    # pruned, equals the out-of-place ReLU's bit for bit, including the accuracy passes.
    task = get_task(task_name)
    kwargs = dict(lrs=(1e-4, 1e-3, 1e-2, 30.0), steps=24, batch_size=32, seed=5, halving=((8, 2),))
    fast = train_rule("drop(adam, 0.3) + m", task, **kwargs)
    monkeypatch.setattr(StackedChild, "inplace_relu", False)
    assert train_rule("drop(adam, 0.3) + m", task, **kwargs) == fast
    assert {r.status for r in fast} == {OK, "pruned", DIVERGED}


def test_huge_learning_rate_diverges_without_crashing(digits):
    results = train_rule("-g", digits, lrs=(1e-3, 1e6), steps=20, batch_size=32, seed=0)
    blown = results[1]
    assert blown.status in (DIVERGED, NAN)
    assert blown.val_acc == 0.0 and blown.test_acc == 0.0 and blown.steps < 20


def test_rule_producing_inf_gets_status_nan(digits):
    # exp(2/g) overflows to e^80 where 0 < g < 0.025 and the product of two such factors is +inf in
    # float32: the weights become infinite after the first update.
    rule = "exp(2 / g) * exp(2 / g)"
    results = train_rule(rule, digits, lrs=(1e-3, 1e-1), steps=10, batch_size=32, seed=0)
    for r in results:
        assert r.status == NAN
        assert r.val_acc == 0.0 and r.test_acc == 0.0
        assert r.steps == 1  # stopped at once, after the update that broke the weights


def test_a_diverging_copy_does_not_affect_the_others(digits):
    kwargs = dict(steps=40, batch_size=32, seed=1)
    together = train_rule("adam", digits, lrs=(1e-3, 1e-2, 1e3), **kwargs)
    assert together[2].status in (DIVERGED, NAN) and together[2].val_acc == 0.0
    assert together[0].status == OK and together[1].status == OK
    apart = train_rule("adam", digits, lrs=(1e-3, 1e-2), **kwargs)
    for t, a in zip(together[:2], apart):
        assert t.status == a.status == OK and t.steps == a.steps
        assert t.final_loss == pytest.approx(a.final_loss, rel=1e-3, abs=1e-4)
        assert abs(t.val_acc - a.val_acc) <= 1 / 300 + 1e-9  # at most one validation example apart


def test_time_limit_gives_timeout(digits):
    # 2 s, not less: the limit counts the setup too, and a loaded machine once spent 0.3 s before the first step
    results = train_rule("adam", digits, lrs=(1e-3, 1e-2), steps=20_000, batch_size=32, seed=0, time_limit_s=2.0)
    for r in results:
        assert r.status == TIMEOUT
        assert r.val_acc == 0.0 and 0 < r.steps < 20_000
    instant = train_rule("adam", digits, lrs=LRS, steps=5, batch_size=32, time_limit_s=0.0)
    assert all(r.status == TIMEOUT and r.steps == 0 for r in instant)


def test_hurdle_stops_early_and_keeps_partial_accuracy(digits):
    stopped = train_rule("adam", digits, lrs=LRS, steps=60, batch_size=32, seed=0, hurdle=(6, 1.01), divergence_factor=10.0)
    assert [r.status for r in stopped[:2]] == [HURDLE, HURDLE] and all(r.steps == 6 for r in stopped[:2])
    assert stopped[2].status == DIVERGED  # adam at lr 0.1 blows up at once: it stays a divergence
    assert 0.3 < _reward(stopped) < 0.97  # partial accuracy kept (60 steps reach > 0.97)
    passed = train_rule("adam", digits, lrs=LRS, steps=12, batch_size=32, seed=0, hurdle=(6, 0.0))
    assert train_rule("adam", digits, lrs=LRS, steps=12, batch_size=32, seed=0) == passed


def test_rule_exception_raises_rule_failure(digits, monkeypatch):
    with pytest.raises(RuleFailure, match="bogus"):
        train_rule(Operand("bogus"), digits, lrs=LRS, steps=2, batch_size=8)

    def broken(self, *args, **kwargs):
        raise ZeroDivisionError("inside the rule")

    monkeypatch.setattr(stacked_module.UpdateRule, "directions", broken)
    with pytest.raises(RuleFailure, match="inside the rule") as info:
        train_rule("adam", digits, lrs=LRS, steps=2, batch_size=8)
    assert info.value.step == 1


def test_thread_count_is_restored(digits):
    before = torch.get_num_threads()
    train_rule("adam", digits, lrs=(1e-2,), steps=2, batch_size=8, num_threads=1)
    assert torch.get_num_threads() == before


def test_mnist1d_trains():
    task = get_task("mnist1d")
    adam = train_rule("adam", task, lrs=(1e-2,), steps=60, batch_size=32, seed=0)
    assert adam[0].status == OK and adam[0].val_acc > 0.3  # chance is 0.1


# ------------------------------------------------------------------------------------------------
# Function tasks
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, sgd_floor",
    # plain SGD crawls along Rosenbrock's valley (condition ~2500): progress, but little of it
    [("quadratic", 0.9), pytest.param("rosenbrock", 0.05, marks=pytest.mark.slow)],
)
def test_function_tasks_reward_descent(name, sgd_floor):
    task = get_task(name)
    for rule, floor in (("adam", 0.85), ("sgd", sgd_floor)):
        results = train_rule(rule, task, seed=0)
        assert _reward(results) > floor, (rule, results)
        for r in results:
            assert r.val_acc == r.test_acc and 0.0 <= r.val_acc <= 1.0
    ascent = train_rule("-g", task, seed=0)
    assert _reward(ascent) == 0.0
    assert any(r.status == DIVERGED for r in ascent)
    assert train_rule("adam", task, seed=5) == train_rule("adam", task, seed=5)


def test_function_task_nan_and_floor():
    results = train_rule("exp(2 / g) * exp(2 / g)", "quadratic", lrs=(1e-2,), steps=50)
    assert results[0].status in (NAN, DIVERGED) and results[0].val_acc == 0.0


HALF_DECADES = tuple(10 ** (e / 2) for e in range(-8, 1))


@pytest.mark.parametrize("task_name", [pytest.param("digits", marks=pytest.mark.slow), "quadratic"])
def test_successive_halving_keeps_the_best_rates_and_they_train_exactly_as_alone(task_name):
    task = get_task(task_name)
    steps = task.defaults.steps
    rung = steps // 4
    halved = train_rule("adam", task, lrs=HALF_DECADES, seed=3, halving=((rung, 3),))
    full = train_rule("adam", task, lrs=HALF_DECADES, seed=3, halving=())
    pruned = [r for r in halved if r.status == "pruned"]
    kept = [r for r in halved if r.status == OK]
    failed_early = [r for r in halved if r.status in (NAN, DIVERGED)]  # too large for adam
    assert len(kept) == 3 and len(pruned) + len(failed_early) == 6 and pruned
    assert all(r.steps == rung for r in pruned) and all(r.steps < rung for r in failed_early)
    # The kept rates were the best at the rung, and from there they trained as if alone.
    early = {r.lr: r.val_acc for r in train_rule("adam", task, lrs=HALF_DECADES, seed=3, steps=rung, halving=())}
    assert min(early[r.lr] for r in kept) >= max(early[r.lr] for r in pruned)
    assert all(r.val_acc == pytest.approx(early[r.lr], abs=1e-6) for r in pruned)
    by_lr = {r.lr: r for r in full}
    for r in kept:
        assert r.status == by_lr[r.lr].status and r.steps == steps
        assert r.val_acc == pytest.approx(by_lr[r.lr].val_acc, abs=1e-6)


def test_successive_halving_cost_counts_copy_steps():
    from optsearch.evaluation.config import EvalConfig
    from optsearch.evaluation.jobs import TrainingJob, run_training_job

    config = EvalConfig(task="quadratic", lrs=HALF_DECADES, halving=((0.25, 3),), screen=False, hurdle=False)
    config = config.with_task_defaults(get_task("quadratic").defaults)
    assert config.full_copy_steps == 9 * 100 + 3 * 300
    (outcome,) = run_training_job(TrainingJob(("adam",), config, 0))
    assert outcome.cost == pytest.approx(1.0) and outcome.reward > 0.5
    with pytest.raises(ValueError, match="halving rung"):
        EvalConfig(task="quadratic", halving=((1.5, 2),)).with_task_defaults(get_task("quadratic").defaults)

"""DSLOptimizer against torch's optimizers and TensorFlow's PowerSign/AddSign, and as an Optimizer."""

from __future__ import annotations

import copy
import io
import math

import pytest
import torch

from dsl_reference import cosine_decay, linear_decay, restart_decay
from optsearch.dsl import NAMED_RULES, DSLOptimizer, RuleConfig, parse, resolve_rule
from optsearch.dsl.expr import Expr, Operand, Unary, walk
from optsearch.dsl.primitives import OPERANDS, UNARIES

STEPS = 100


def make_problem(seed: int = 0, dtype=torch.float32):
    """A small regression net and a fixed batch: its loss is a non-convex function of the weights."""
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1)).to(dtype)
    data = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(64, 6, generator=data, dtype=dtype)
    y = torch.sin(x.sum(dim=1, keepdim=True))
    return model, x, y


def clone_model(model):
    return copy.deepcopy(model)


def loss_of(model, x, y):
    return torch.nn.functional.mse_loss(model(x), y)


def train_in_lockstep(model, optimizers_and_models, x, y, steps=STEPS):
    """Step each (optimizer, model) pair on the same batch; returns final parameters per pair."""
    for _ in range(steps):
        for optimizer, net in optimizers_and_models:
            optimizer.zero_grad()
            loss_of(net, x, y).backward()
            optimizer.step()
    return [[p.detach().clone() for p in net.parameters()] for _, net in optimizers_and_models]


def assert_same_parameters(a, b, tol=1e-5):
    for p, q in zip(a, b):
        torch.testing.assert_close(p, q, rtol=tol, atol=tol)


# ------------------------------------------------------------------------------------------------
# The classics equal torch's optimizers
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "rule, lr, make_torch",
    [
        ("adam", 1e-2, lambda params, lr: torch.optim.Adam(params, lr=lr)),
        pytest.param("adam", 1e-2, lambda params, lr: torch.optim.Adam(params, lr=lr, foreach=False), marks=pytest.mark.slow),
        ("rmsprop", 1e-3, lambda params, lr: torch.optim.RMSprop(params, lr=lr)),
        ("sgd", 5e-2, lambda params, lr: torch.optim.SGD(params, lr=lr)),
    ],
)
def test_classic_rules_equal_torch(rule, lr, make_torch):
    model, x, y = make_problem()
    twin = clone_model(model)
    ours = DSLOptimizer(model.parameters(), rule, lr=lr)
    theirs = make_torch(twin.parameters(), lr)
    start = [p.detach().clone() for p in model.parameters()]
    loss_before = loss_of(model, x, y).item()
    mine, reference = train_in_lockstep(model, [(ours, model), (theirs, twin)], x, y)
    assert_same_parameters(mine, reference)
    assert max((p - q).abs().max().item() for p, q in zip(mine, start)) > 1e-2  # they did move
    assert loss_of(model, x, y).item() < loss_before


def test_momentum_without_bias_correction_is_torch_sgd_with_momentum():
    model, x, y = make_problem(1)
    twin = clone_model(model)
    lr = 1e-2
    ours = DSLOptimizer(model.parameters(), "momentum", lr=lr * 10, config=RuleConfig(bias_correction=False))
    theirs = torch.optim.SGD(twin.parameters(), lr=lr, momentum=0.9)
    mine, reference = train_in_lockstep(model, [(ours, model), (theirs, twin)], x, y)
    assert_same_parameters(mine, reference)


def test_bias_corrected_momentum_differs_from_torch_sgd():
    # The default m is m̂: on the first step it moves by lr·g, not (lr/10)·g. The test above is no tautology.
    model, x, y = make_problem(1)
    twin = clone_model(model)
    ours = DSLOptimizer(model.parameters(), "momentum", lr=0.1)
    theirs = torch.optim.SGD(twin.parameters(), lr=0.01, momentum=0.9)
    mine, reference = train_in_lockstep(model, [(ours, model), (theirs, twin)], x, y, steps=3)
    assert any(not torch.allclose(p, q, atol=1e-5) for p, q in zip(mine, reference))


# ------------------------------------------------------------------------------------------------
# PowerSign and AddSign as TensorFlow defines them
# ------------------------------------------------------------------------------------------------
class TFSignOptimizer:
    """``tf.contrib.opt.PowerSignOptimizer`` / ``AddSignOptimizer``, written out.

    m_t = β m + (1 − β) g is updated *before* the sign is taken, with no bias correction;
    PowerSign: w −= lr · α^{f(t) sign(g) sign(m_t)} · g; AddSign: w −= lr · (α + f(t) sign(g) sign(m_t)) · g;
    f is TF's ``sign_decay`` of the global step t (0 on the first update, clamped to T).
    """

    def __init__(self, params, lr, kind, alpha, decay=None, total_steps=None, beta=0.9):
        self.params = list(params)
        self.lr, self.kind, self.alpha, self.beta = lr, kind, alpha, beta
        self.decay, self.total_steps = decay, total_steps
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
            m.mul_(self.beta).add_((1 - self.beta) * g)
            agreement = f * torch.sign(g) * torch.sign(m)
            if self.kind == "powersign":
                update = torch.exp(math.log(self.alpha) * agreement) * g
            else:
                update = (self.alpha + agreement) * g
            p.sub_(self.lr * update)
        self.t += 1


DECAYS = {None: None, "ld": linear_decay, "cd": cosine_decay, "rd": restart_decay}


def _tf_spec(name: str):
    base, _, decay = name.partition("-")
    kind = "powersign" if base.startswith("powersign") else "addsign"
    alpha = {"powersign": math.e, "powersign2": 2.0, "addsign": 1.0, "addsign2": 2.0}[base]
    return kind, alpha, DECAYS[decay or None]


SIGN_RULES = sorted(n for n in NAMED_RULES if n.startswith(("powersign", "addsign")))


def test_every_sign_rule_is_covered():
    assert len(SIGN_RULES) == 13
    assert {"powersign", "powersign-ld", "powersign-cd", "powersign-rd", "powersign2", "addsign2-ld"} <= set(SIGN_RULES)


#: The sign rules the fast tier (``-m "not slow"``) checks: each kind, with and without a decay.
FAST_SIGN_RULES = ("powersign", "addsign-ld")


@pytest.mark.parametrize(
    "name", [name if name in FAST_SIGN_RULES else pytest.param(name, marks=pytest.mark.slow) for name in SIGN_RULES]
)
def test_sign_rules_equal_tensorflow(name):
    kind, alpha, decay = _tf_spec(name)
    total = 60  # shorter than the run: the decays' clamping at T is part of the check
    model, x, y = make_problem(2, dtype=torch.float64)
    twin = clone_model(model)
    ours = DSLOptimizer(model.parameters(), name, lr=1e-2, total_steps=total)
    theirs = TFSignOptimizer(twin.parameters(), 1e-2, kind, alpha, decay, total)
    mine, reference = train_in_lockstep(model, [(ours, model), (theirs, twin)], x, y)
    assert_same_parameters(mine, reference)


def test_the_tensorflow_comparison_can_fail():
    # The reference is sharp enough to tell AddSign (α = 1) from AddSign2 (α = 2) within five steps.
    model, x, y = make_problem(2, dtype=torch.float64)
    twin = clone_model(model)
    ours = DSLOptimizer(model.parameters(), "addsign", lr=1e-2)
    theirs = TFSignOptimizer(twin.parameters(), 1e-2, "addsign", 2.0)  # the wrong α
    mine, reference = train_in_lockstep(model, [(ours, model), (theirs, twin)], x, y, steps=5)
    with pytest.raises(AssertionError):
        assert_same_parameters(mine, reference)


# ------------------------------------------------------------------------------------------------
# DSLOptimizer as a torch optimizer
# ------------------------------------------------------------------------------------------------
def test_param_groups_have_their_own_learning_rates():
    a = torch.nn.Parameter(torch.ones(3))
    b = torch.nn.Parameter(torch.ones(2, 2))
    optimizer = DSLOptimizer([{"params": [a], "lr": 0.5}, {"params": [b]}], "sgd", lr=0.1)
    a.grad, b.grad = torch.full_like(a, 2.0), torch.full_like(b, 3.0)
    optimizer.step()
    assert torch.allclose(a, torch.full_like(a, 1 - 0.5 * 2.0))
    assert torch.allclose(b, torch.full_like(b, 1 - 0.1 * 3.0))
    assert [group["lr"] for group in optimizer.param_groups] == [0.5, 0.1]


def test_param_groups_match_torch_adam():
    model, x, y = make_problem(3)
    twin = clone_model(model)
    groups = lambda net: [{"params": net[0].parameters(), "lr": 3e-2}, {"params": net[2].parameters()}]  # noqa: E731
    ours = DSLOptimizer(groups(model), "adam", lr=1e-3)
    theirs = torch.optim.Adam(groups(twin), lr=1e-3)
    mine, reference = train_in_lockstep(model, [(ours, model), (theirs, twin)], x, y, steps=30)
    assert_same_parameters(mine, reference)


def test_param_groups_have_their_own_total_steps():
    a = torch.nn.Parameter(torch.zeros(1))
    b = torch.nn.Parameter(torch.zeros(1))
    optimizer = DSLOptimizer([{"params": [a], "total_steps": 2}, {"params": [b], "total_steps": 4}], "ld * g", lr=1.0)
    for _ in range(2):
        a.grad, b.grad = torch.ones(1), torch.ones(1)
        optimizer.step()
    # a: ld = 1, 1/2 -> moved 1.5; b: ld = 1, 3/4 -> moved 1.75
    assert a.item() == pytest.approx(-1.5) and b.item() == pytest.approx(-1.75)


@pytest.mark.parametrize(
    "rule, buffers",
    [("sgd", set()), ("powersign", {"m"}), ("adam", {"m", "v"}), ("rmsprop", {"r"}), ("y + m", {"m", "y"}),
     ("paper-03", {"m", "v"}), ("drop(g, 0.3) * exp(sign(g) * sign(m))", {"m"})],
)
def test_state_holds_only_the_buffers_the_rule_reads(rule, buffers):
    model, x, y = make_problem()
    optimizer = DSLOptimizer(model.parameters(), rule, lr=1e-3, seed=0)
    loss_of(model, x, y).backward()
    optimizer.step()
    for p in model.parameters():
        state = optimizer.state[p]
        assert set(state) == buffers | {"step"}
        assert state["step"] == 1
        for name in buffers:
            assert state[name].shape == p.shape and state[name].dtype == p.dtype
    assert set(optimizer.update_rule.buffers) == buffers


@pytest.mark.parametrize("rule", ["adam", "powersign-cd", "paper-03", "rmsprop + clip(y, 1e-3)", "addsign2-ld"])
def test_state_dict_round_trip_continues_identically(rule):
    model, x, y = make_problem(4)
    optimizer = DSLOptimizer(model.parameters(), rule, lr=1e-2, total_steps=50)
    train_in_lockstep(model, [(optimizer, model)], x, y, steps=7)

    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)

    restored_model = clone_model(model)
    restored_model.load_state_dict(saved["model"])
    restored = DSLOptimizer(restored_model.parameters(), rule, lr=0.5, total_steps=999)  # the state dict wins
    restored.load_state_dict(saved["optimizer"])
    assert restored.param_groups[0]["lr"] == 1e-2 and restored.param_groups[0]["total_steps"] == 50

    original, reloaded = train_in_lockstep(model, [(optimizer, model), (restored, restored_model)], x, y, steps=5)
    for p, q in zip(original, reloaded):
        assert torch.equal(p, q)
    for p, q in zip(model.parameters(), restored_model.parameters()):
        assert optimizer.state[p]["step"] == restored.state[q]["step"] == 12


def test_loading_state_matters():
    # Without the state the continuation differs: the round trip above is a real check.
    model, x, y = make_problem(4)
    optimizer = DSLOptimizer(model.parameters(), "adam", lr=1e-2)
    train_in_lockstep(model, [(optimizer, model)], x, y, steps=7)
    fresh_model = clone_model(model)
    fresh = DSLOptimizer(fresh_model.parameters(), "adam", lr=1e-2)
    a, b = train_in_lockstep(model, [(optimizer, model), (fresh, fresh_model)], x, y, steps=2)
    assert any(not torch.equal(p, q) for p, q in zip(a, b))


@pytest.mark.parametrize("rule", ["powersign-ld", "ld * g", "exp(g) * rd", "addsign-cd"])
def test_schedule_rules_need_total_steps(rule):
    params = [torch.nn.Parameter(torch.zeros(2))]
    with pytest.raises(ValueError, match="total_steps"):
        DSLOptimizer(params, rule)
    with pytest.raises(ValueError, match="total_steps"):
        DSLOptimizer(params, rule, total_steps=0)
    with pytest.raises(ValueError, match="total_steps"):
        DSLOptimizer([{"params": params, "total_steps": None}], rule, total_steps=10)
    DSLOptimizer(params, rule, total_steps=10)


@pytest.mark.parametrize("name", sorted(NAMED_RULES))
def test_every_named_rule_is_accepted(name):
    params = [torch.nn.Parameter(torch.ones(3))]
    optimizer = DSLOptimizer(params, name, lr=1e-3, total_steps=10, seed=0)
    assert optimizer.rule == parse(NAMED_RULES[name]) == resolve_rule(name) == resolve_rule(f"  {name} ")
    params[0].grad = torch.full((3,), 0.5)
    optimizer.step()
    assert torch.isfinite(params[0]).all()
    assert not torch.equal(params[0], torch.ones(3)) or name == "paper-15"  # exp(g) - exp(m̂) is 0 at first


def test_rules_given_as_text_or_tree():
    params = [torch.nn.Parameter(torch.ones(2))]
    assert DSLOptimizer(params, "exp(sign(g) * sign(m)) * g").rule == resolve_rule("powersign")
    assert DSLOptimizer(params, parse("g + m")).rule == parse("g + m")
    with pytest.raises(TypeError):
        DSLOptimizer(params, 3)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        DSLOptimizer(params, "not a rule")
    with pytest.raises(ValueError, match="learning rate"):
        DSLOptimizer(params, "sgd", lr=-1.0)


def test_step_skips_parameters_without_gradients_and_returns_the_closure_loss():
    a, b = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))
    optimizer = DSLOptimizer([a, b], "adam", lr=0.1)

    def closure():
        a.grad = None
        loss = (a**2).sum()
        loss.backward()
        return loss

    assert optimizer.step(closure).item() == pytest.approx(2.0)
    assert torch.equal(b, torch.ones(2)) and b not in optimizer.state
    assert optimizer.state[a]["step"] == 1
    b.grad = torch.ones(2)  # b joins later: it keeps its own step count
    optimizer.step(closure)
    assert optimizer.state[a]["step"] == 2 and optimizer.state[b]["step"] == 1
    # b's first step is Adam's first step: lr · sign(g)
    assert torch.allclose(b, torch.full((2,), 0.9), atol=1e-6)


def test_sparse_gradients_are_refused():
    p = torch.nn.Parameter(torch.ones(3))
    p.grad = torch.ones(3).to_sparse()
    with pytest.raises(RuntimeError, match="sparse"):
        DSLOptimizer([p], "sgd").step()


def test_seed_makes_random_rules_reproducible():
    def run(seed):
        model, x, y = make_problem(5)
        optimizer = DSLOptimizer(model.parameters(), "drop(m, 0.3) * exp(1e-3 * w) + noise", lr=1e-2, seed=seed)
        return train_in_lockstep(model, [(optimizer, model)], x, y, steps=10)[0]

    first, again, other = run(1), run(1), run(2)
    assert all(torch.equal(p, q) for p, q in zip(first, again))
    assert any(not torch.equal(p, q) for p, q in zip(first, other))


def test_mixed_dtypes_are_updated_separately():
    a = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))
    b = torch.nn.Parameter(torch.ones(3, dtype=torch.float32))
    optimizer = DSLOptimizer([a, b], "adam", lr=0.1)
    a.grad, b.grad = torch.ones_like(a), torch.ones_like(b)
    optimizer.step()
    assert a.dtype == torch.float64 and b.dtype == torch.float32
    assert torch.allclose(a, torch.full_like(a, 0.9)) and torch.allclose(b, torch.full_like(b, 0.9))


#: The primitives that draw from the optimizer's generator: the noise operands and the drop unaries.
RANDOM_OPERANDS = frozenset({"noise", "anoise"})
RANDOM_UNARIES = frozenset(spec.name for spec in UNARIES if spec.text == "drop")


def draws_random_numbers(rule) -> bool:
    """Whether ``rule`` (an Expr, rule text or a named rule) uses a random primitive anywhere in its tree.

    Decided by the tree, not the name: ``paper-16`` is ``drop(m, 0.3) * exp(1e-3 * w)``.
    """
    return any(
        (isinstance(node, Operand) and node.name in RANDOM_OPERANDS) or (isinstance(node, Unary) and node.fn in RANDOM_UNARIES)
        for node in walk(resolve_rule(rule))
    )


@pytest.mark.parametrize(
    "rule, random",
    [
        ("paper-16", True),  # drop(m, 0.3) * exp(1e-3 * w): random, though its name says nothing
        ("adam", False),
        ("powersign-ld", False),
        ("2 ^ (sign(g) * sign(m)) * g", False),
        ("log(v) / sqrt(g3)", False),
        ("g + noise", True),
        ("sign(m) * anoise", True),
        ("exp(sqrt(drop(g, 0.1)))", True),  # deep in the tree
        ("clip(rmsprop, 1e-5) + drop(m, 0.3)", True),
    ],
)
def test_random_rules_are_told_by_their_primitives_not_their_names(rule, random):
    assert draws_random_numbers(rule) is random


def _primitive_rules() -> list[Expr]:
    return [Operand(spec.name) for spec in OPERANDS] + [Unary(spec.name, Operand("g")) for spec in UNARIES]


def test_the_random_primitives_are_exactly_those_whose_step_depends_on_the_seed():
    """Keeps :data:`RANDOM_OPERANDS`/:data:`RANDOM_UNARIES` complete if a random primitive is added."""

    def step(rule: Expr, seed: int) -> torch.Tensor:
        torch.manual_seed(0)
        w = torch.nn.Parameter(torch.randn(64, dtype=torch.float64))
        optimizer = DSLOptimizer([w], rule, lr=0.1, total_steps=10, seed=seed)
        for _ in range(2):
            w.grad = torch.linspace(-1, 1, 64, dtype=torch.float64)
            optimizer.step()
        return w.detach().clone()

    seeded = {str(rule) for rule in _primitive_rules() if not torch.equal(step(rule, 1), step(rule, 2))}
    told = {str(rule) for rule in _primitive_rules() if draws_random_numbers(rule)}
    assert seeded == told and told


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("rule", ["adam", "powersign-ld", "paper-16", "2 ^ (sign(g) * sign(m)) * g", "log(v) / sqrt(g3)"])
def test_cuda_matches_cpu(rule):
    model, x, y = make_problem(6)
    cuda_model = clone_model(model).cuda()
    ours = DSLOptimizer(model.parameters(), rule, lr=1e-2, total_steps=30, seed=0)
    theirs = DSLOptimizer(cuda_model.parameters(), rule, lr=1e-2, total_steps=30, seed=0)
    for _ in range(20):
        for optimizer, net, inputs, targets in ((ours, model, x, y), (theirs, cuda_model, x.cuda(), y.cuda())):
            optimizer.zero_grad()
            loss_of(net, inputs, targets).backward()
            optimizer.step()
    if not draws_random_numbers(rule):  # CPU and CUDA generators draw different masks and noise
        for p, q in zip(model.parameters(), cuda_model.parameters()):
            torch.testing.assert_close(p, q.cpu(), rtol=1e-4, atol=1e-5)
    state = theirs.state_dict()
    restored = DSLOptimizer(clone_model(model).cuda().parameters(), rule, lr=1e-2, total_steps=30)
    restored.load_state_dict(state)
    for value in restored.state.values():
        for name in restored.update_rule.buffers:
            assert value[name].is_cuda


def test_state_dict_carries_the_random_stream_of_a_seeded_stochastic_rule():
    import io

    from optsearch.dsl import DSLOptimizer

    def make(seed_params):
        torch.manual_seed(seed_params)
        w = torch.nn.Parameter(torch.randn(50))
        return w, DSLOptimizer([w], "drop(g, 0.5) + noise", lr=0.1, seed=7)

    def advance(w, opt, steps):
        for _ in range(steps):
            opt.zero_grad()
            (w**2).sum().backward()
            opt.step()

    w, opt = make(0)
    advance(w, opt, 5)
    buffer = io.BytesIO()
    torch.save({"opt": opt.state_dict(), "w": w.detach().clone()}, buffer)
    advance(w, opt, 5)
    expected = w.detach().clone()

    saved = torch.load(io.BytesIO(buffer.getvalue()), weights_only=True)
    w2, opt2 = make(1)
    with torch.no_grad():
        w2.copy_(saved["w"])
    opt2.load_state_dict(saved["opt"])
    advance(w2, opt2, 5)
    assert torch.equal(w2.detach(), expected)


def test_an_added_param_group_without_total_steps_is_refused_for_a_schedule_rule():
    from optsearch.dsl import DSLOptimizer

    first, second = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))
    opt = DSLOptimizer([first], "powersign-ld", lr=0.1, total_steps=10)
    with pytest.raises(ValueError, match="total_steps"):
        opt.add_param_group({"params": [second], "total_steps": None})
    opt.add_param_group({"params": [second], "total_steps": 20})
    assert opt.param_groups[1]["total_steps"] == 20


# ------------------------------------------------------------------------------------------------
# Hyper-parameters are checked when the optimizer is made
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("lr", [math.nan, math.inf, -math.inf, -1.0, -1e-12])
def test_a_learning_rate_that_is_not_finite_and_non_negative_is_refused(lr):
    params = [torch.nn.Parameter(torch.ones(2))]
    with pytest.raises(ValueError, match="learning rate"):
        DSLOptimizer(params, "sgd", lr=lr)
    with pytest.raises(ValueError, match="learning rate"):
        DSLOptimizer([{"params": params, "lr": lr}], "sgd", lr=0.1)
    optimizer = DSLOptimizer(params, "sgd", lr=0.1)
    with pytest.raises(ValueError, match="learning rate"):
        optimizer.add_param_group({"params": [torch.nn.Parameter(torch.ones(1))], "lr": lr})


@pytest.mark.parametrize("lr", ["0.1", None, True, torch.tensor(0.1)])
def test_a_learning_rate_that_is_no_number_is_refused(lr):
    with pytest.raises(TypeError, match="learning rate"):
        DSLOptimizer([torch.nn.Parameter(torch.ones(2))], "sgd", lr=lr)


def test_zero_and_integer_learning_rates_are_accepted_as_by_torch():
    p = torch.nn.Parameter(torch.ones(2))
    DSLOptimizer([p], "sgd", lr=0.0)
    optimizer = DSLOptimizer([p], "sgd", lr=1)
    p.grad = torch.ones(2)
    optimizer.step()
    assert torch.equal(p, torch.zeros(2))


@pytest.mark.parametrize("total_steps, error", [(0, ValueError), (-5, ValueError), (2.5, TypeError), (math.nan, TypeError), (True, TypeError)])
def test_invalid_total_steps_are_refused_for_every_rule(total_steps, error):
    params = [torch.nn.Parameter(torch.ones(2))]
    for rule in ("sgd", "powersign-ld"):
        with pytest.raises(error, match="total_steps"):
            DSLOptimizer(params, rule, total_steps=total_steps)
        with pytest.raises(error, match="total_steps"):
            DSLOptimizer([{"params": params, "total_steps": total_steps}], rule, total_steps=10)


@pytest.mark.parametrize("seed, error", [("7", TypeError), (1.5, TypeError), (2**64, ValueError)])
def test_invalid_seeds_are_refused_when_the_optimizer_is_made(seed, error):
    with pytest.raises(error, match="seed"):
        DSLOptimizer([torch.nn.Parameter(torch.ones(2))], "g + noise", seed=seed)


@pytest.mark.parametrize(
    "fields",
    [{"beta1": 1.0}, {"beta2": -0.1}, {"beta3": math.nan}, {"rms_decay": 1.5}, {"eps": -1e-8}, {"delta": 0.0},
     {"delta": math.inf}, {"noise_variance": -0.01}, {"anneal_gamma": math.nan}, {"cd_periods": math.inf}],
)
def test_invalid_rule_configs_are_refused(fields):
    with pytest.raises(ValueError, match=next(iter(fields))):
        RuleConfig(**fields)


def test_the_config_must_be_a_rule_config():
    with pytest.raises(TypeError, match="RuleConfig"):
        DSLOptimizer([torch.nn.Parameter(torch.ones(2))], "sgd", config={"beta1": 0.5})  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------
# A state dict belongs to its rule
# ------------------------------------------------------------------------------------------------
def trained_state(rule: str, steps: int = 3):
    model, x, y = make_problem(7)
    optimizer = DSLOptimizer(model.parameters(), rule, lr=1e-2, total_steps=20)
    train_in_lockstep(model, [(optimizer, model)], x, y, steps=steps)
    return model, optimizer.state_dict()


def test_the_state_of_another_rule_is_refused_naming_both_rules():
    model, state = trained_state("adam")
    twin = clone_model(model)
    other = DSLOptimizer(twin.parameters(), "y + m", lr=1e-2)
    with pytest.raises(ValueError, match=r"rule 'adam' into an optimizer of rule 'y \+ m'"):
        other.load_state_dict(state)
    # refused before anything changed: the optimizer still steps with its own rule
    assert not other.state
    x, y = make_problem(7)[1:]
    train_in_lockstep(twin, [(other, twin)], x, y, steps=1)
    assert all(set(value) == {"step", "m", "y"} for value in other.state.values())


def test_the_state_of_the_same_rule_written_differently_is_accepted():
    model, state = trained_state("g * exp(sign(m) * sign(g))")
    assert state["rule"] == "g * exp(sign(m) * sign(g))"
    restored = DSLOptimizer(clone_model(model).parameters(), "powersign", lr=1e-2)
    restored.load_state_dict(state)
    assert all(value["step"] == 3 for value in restored.state.values())


def test_a_state_dict_without_the_rule_is_checked_for_its_buffers():
    # State dicts saved before the rule's text was stored still load when they fit the rule ...
    model, state = trained_state("adam")
    del state["rule"]
    twin = clone_model(model)
    DSLOptimizer(twin.parameters(), "adam", lr=1e-2).load_state_dict(state)
    DSLOptimizer(twin.parameters(), "m + v", lr=1e-2).load_state_dict(state)  # the same buffers
    # ... and are refused, naming what is missing, when they lack a running average of the rule
    with pytest.raises(ValueError, match=r"lacks 'y'.*rule 'y \+ m'"):
        DSLOptimizer(twin.parameters(), "y + m", lr=1e-2).load_state_dict(state)


def test_a_state_dict_naming_no_valid_rule_is_refused():
    model, state = trained_state("adam")
    state["rule"] = "adam +"
    with pytest.raises(ValueError, match="names no valid rule"):
        DSLOptimizer(clone_model(model).parameters(), "adam", lr=1e-2).load_state_dict(state)

"""Train the child with a rule at every learning rate of a grid: the reward of the whole project.

:func:`train_rule` trains ``K = len(lrs)`` copies of the child **at once** (a
:class:`~optsearch.evaluation.child.StackedChild`): all copies start from the same initialisation
(seeded by ``seed``) and see the same mini-batches, so they differ only in their learning rate.
Each step computes the rule's direction for all copies with one compiled
:class:`~optsearch.dsl.compiler.UpdateRule` (``directions``) and applies
``w_k ← w_k − lr_k · direction_k`` with the learning rates broadcast over the leading copy
dimension of every parameter. ``total_steps = steps`` for the decay schedules.

The reward is the final validation accuracy (the paper's choice); test accuracy is recorded but
never used for selection. Per copy the outcome is one :class:`~optsearch.evaluation.records.LRResult`:

- ``ok``: trained for all ``steps``; accuracies measured with batch-norm running statistics.
- ``nan``: NaN/inf in the copy's loss or weights; stopped at once.
- ``diverged``: training loss above ``divergence_factor`` × the initial loss, or above
  :data:`LOSS_CAP`; stopped at once.
- ``timeout``: ``time_limit_s`` elapsed (checked between steps) before the copy finished.
- ``hurdle``: with ``hurdle=(h, threshold)``, the best validation accuracy of the still-training
  copies after ``h`` steps was below ``threshold``: every copy still training stops there and
  keeps its partial validation/test accuracy (the early hurdle; the bar is fixed per task, so the
  result is still a function of rule and seed alone).

A stopped copy records the floor accuracy 0.0 and is taken out of the stack at once (its slices
of the parameters, the rule's state and the learning rates are dropped), so nothing of it can
reach other copies and it costs no further compute. Bad rules are data:
only an *exception* raised inside the rule makes :func:`train_rule` raise :class:`RuleFailure`
(the caller records status ``error``).

Function tasks (``quadratic``, ``rosenbrock``) go through the same function: the parameters are
the points ``w [K, d]``, the "loss" is ``f(w)`` and the accuracy is the progress score of
:func:`~optsearch.evaluation.tasks.progress_score`.

Reproducibility: initialisation, batch order, gradient noise and the rule's randomness
(``noise``, ``drop``) come from generators derived from ``seed`` only, so a run is deterministic
for a fixed seed, learning-rate grid and thread count. Copies are independent of each other
except for rules with randomness, whose draws are made for the whole stack.
"""

from __future__ import annotations

import contextlib
import time
from typing import Iterator, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from optsearch.dsl.compiler import RuleConfig, UpdateRule, compile_rule
from optsearch.dsl.expr import Expr
from optsearch.dsl.optimizer import resolve_rule

from .child import ChildSpec, StackedChild
from .records import DIVERGED, HURDLE, NAN, OK, PRUNED, TIMEOUT, LRResult, Status
from .tasks import Task, get_task, progress_score

__all__ = ["DIVERGENCE_FACTOR", "LOSS_CAP", "RuleFailure", "child_spec", "train_rule"]

DIVERGENCE_FACTOR = 10.0  # a loss above this multiple of the initial loss is a divergence
LOSS_CAP = 1e6  # a loss above this value is a divergence, whatever the initial loss
EVAL_BATCH = 512  # examples per forward pass when measuring accuracy (small: big tensors page-fault)


class RuleFailure(RuntimeError):
    """The rule raised an exception while computing an update (record the evaluation as ``error``)."""

    def __init__(self, rule: str, message: str, step: int = 0):
        super().__init__(f"rule {rule!r} failed at step {step}: {message}")
        self.rule = rule
        self.message = message
        self.step = step


@contextlib.contextmanager
def torch_threads(num_threads: Optional[int]) -> Iterator[None]:
    """Run with ``torch.set_num_threads(num_threads)`` and restore the previous value (None: leave)."""
    if num_threads is None or num_threads == torch.get_num_threads():
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(max(1, int(num_threads)))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _seeds(seed: int) -> tuple[int, int, int]:
    """Independent 63-bit seeds for (initialisation, data order / gradient noise, the rule)."""
    words = np.random.SeedSequence(int(seed) % 2**64).generate_state(3, dtype=np.uint64)
    return tuple(int(w) & 0x7FFF_FFFF_FFFF_FFFF for w in words)  # type: ignore[return-value]


def child_spec(task: Task) -> ChildSpec:
    """The child architecture for a data task."""
    if task.is_function:
        raise ValueError(f"task {task.name!r} is a function task: it has no child network")
    return ChildSpec(
        in_channels=task.input_shape[0],
        spatial=tuple(task.input_shape[1:]),
        num_classes=task.num_classes,
        pool=task.pool,
    )


class _Copies:
    """Bookkeeping of which copies are still training and how each one ended."""

    def __init__(self, lrs: Sequence[float]):
        self.lrs = [float(lr) for lr in lrs]
        self.k = len(self.lrs)
        self.status: list[Optional[str]] = [None] * self.k
        self.steps = [0] * self.k
        self.loss = [float("nan")] * self.k
        self.val = [0.0] * self.k
        self.test = [0.0] * self.k

    def stop(self, i: int, status: str, steps: int, loss: float) -> None:
        self.status[i] = status
        self.steps[i] = steps
        self.loss[i] = loss


def _rule_name(expr: Union[Expr, str]) -> str:
    return expr if isinstance(expr, str) else str(expr)


def _compile(expr: Union[Expr, str], config: Optional[RuleConfig]) -> UpdateRule:
    try:
        return compile_rule(resolve_rule(expr), config if config is not None else RuleConfig())
    except Exception as error:  # a rule that cannot even be compiled is a failed rule
        raise RuleFailure(_rule_name(expr), f"{type(error).__name__}: {error}") from error


def _directions(
    rule: UpdateRule,
    name: str,
    params: list[Tensor],
    grads: list[Tensor],
    buffers: dict[str, list[Tensor]],
    step: int,
    total_steps: int,
    generator: torch.Generator,
) -> list[Tensor]:
    try:
        return rule.directions(params, grads, buffers, step=step, total_steps=total_steps, generator=generator)
    except Exception as error:
        raise RuleFailure(name, f"{type(error).__name__}: {error}", step) from error


def _apply(params: list[Tensor], directions: list[Tensor], lr_views: list[Tensor]) -> None:
    """``w_k -= lr_k · direction_k`` for every copy k (the learning rates broadcast over dim 0)."""
    torch._foreach_mul_(directions, lr_views)
    torch._foreach_sub_(params, directions)


class _Stack:
    """The copies still training: their original indices, parameters, rule state and rates."""

    def __init__(self, params: list[Tensor], buffers: dict[str, list[Tensor]], lrs: Sequence[float]):
        self.alive = list(range(len(lrs)))
        self.params = params
        self.buffers = buffers
        self.lrs = torch.tensor(lrs, dtype=torch.float32)
        self._views()

    def _views(self) -> None:
        k = len(self.alive)
        self.lr_views = [self.lrs.view(k, *([1] * (p.dim() - 1))) for p in self.params]

    def drop(self, positions: list[int]) -> Optional[list[int]]:
        """Remove the copies at ``positions`` (of the current stack); returns the kept positions."""
        if not positions:
            return None
        keep = [j for j in range(len(self.alive)) if j not in positions]
        index = torch.as_tensor(keep, dtype=torch.long)
        self.alive = [self.alive[j] for j in keep]
        self.lrs = self.lrs.index_select(0, index)
        self.buffers = {name: [t.index_select(0, index) for t in ts] for name, ts in self.buffers.items()}
        self.params = [p.index_select(0, index) for p in self.params]  # replaced by the caller's own
        self._views()
        return keep


def _nonfinite_copies(params: list[Tensor], k: int) -> Tensor:
    """Boolean [K]: copies with a NaN or inf anywhere in their parameters."""
    sums = torch.stack([p.detach().reshape(k, -1).sum(1) for p in params]).sum(0)
    return ~torch.isfinite(sums)


def train_rule(
    expr: Union[Expr, str],
    task: Union[Task, str],
    *,
    lrs: Optional[Sequence[float]] = None,
    steps: Optional[int] = None,
    batch_size: Optional[int] = None,
    seed: int = 0,
    time_limit_s: Optional[float] = None,
    rule_config: Optional[RuleConfig] = None,
    divergence_factor: float = DIVERGENCE_FACTOR,
    hurdle: Optional[tuple[int, float]] = None,
    halving: Sequence[tuple[int, int]] = (),
    num_threads: Optional[int] = 1,
) -> tuple[LRResult, ...]:
    """Train the child with rule ``expr`` once per learning rate; one :class:`LRResult` per lr.

    ``expr`` is an ``Expr``, rule text or a name of ``NAMED_RULES``; ``task`` a :class:`Task` or a
    task name. ``lrs``, ``steps``, ``batch_size`` and ``time_limit_s`` default to the task's
    :class:`~optsearch.evaluation.tasks.TaskDefaults` (``time_limit_s=None`` there means the
    task default; pass ``math.inf`` for none). ``num_threads`` sets torch's intra-op threads for
    the call and restores them afterwards (``None`` leaves torch's setting alone); one thread per
    evaluation is the default because it is the fastest per core and degrades least when the
    machine is shared — run evaluations in parallel processes to use more cores.
    ``hurdle=(hurdle_steps, threshold)`` enables the early hurdle (see the module docstring); it
    is checked once, after ``hurdle_steps`` updates, when that is fewer than ``steps``.
    ``halving=((step, keep), ...)``: successive halving over the learning rates — after ``step``
    updates only the ``keep`` copies with the best validation accuracy (progress score) go on;
    the others stop with status ``pruned`` and their partial accuracy, never the reward.

    Raises :class:`RuleFailure` when the rule itself raises; never for NaN, inf or divergence.
    """
    if isinstance(task, str):
        task = get_task(task)
    defaults = task.defaults
    lrs = tuple(float(lr) for lr in (defaults.lrs if lrs is None else lrs))
    steps = int(defaults.steps if steps is None else steps)
    batch_size = int(defaults.batch_size if batch_size is None else batch_size)
    time_limit_s = float(defaults.time_limit_s if time_limit_s is None else time_limit_s)
    if not lrs:
        raise ValueError("lrs must not be empty")
    if steps < 1 or batch_size < 1:
        raise ValueError("steps and batch_size must be >= 1")
    if divergence_factor <= 1.0:
        raise ValueError("divergence_factor must be > 1")
    hurdle_at, hurdle_bar = (0, 0.0) if hurdle is None else (int(hurdle[0]), float(hurdle[1]))
    if not 0 < hurdle_at < steps:
        hurdle_at = 0  # no hurdle
    rungs = {int(step): int(keep) for step, keep in halving if 0 < int(step) < steps and int(keep) >= 1}
    rule = _compile(expr, rule_config)
    name = _rule_name(expr)
    with torch_threads(num_threads), torch.no_grad():
        if task.is_function:
            return _train_function(
                rule, name, task, lrs, steps, seed, time_limit_s, divergence_factor, hurdle_at, hurdle_bar, rungs
            )
        return _train_child(
            rule, name, task, lrs, steps, batch_size, seed, time_limit_s, divergence_factor, hurdle_at, hurdle_bar, rungs
        )


def _pruned_positions(scores: Sequence[float], lrs: Sequence[float], keep: int) -> list[int]:
    """Positions outside the ``keep`` best scores (ties: the smaller learning rate stays)."""
    order = sorted(range(len(scores)), key=lambda j: (-scores[j], lrs[j]))
    return sorted(order[keep:])


# ------------------------------------------------------------------------------------------------
# Data tasks
# ------------------------------------------------------------------------------------------------
def _batch_indices(n: int, steps: int, batch_size: int, generator: torch.Generator) -> Tensor:
    """``[steps, batch_size]`` example indices: consecutive epochs of seeded permutations."""
    total = steps * batch_size
    epochs = -(-total // n)
    order = torch.cat([torch.randperm(n, generator=generator) for _ in range(epochs)])
    return order[:total].view(steps, batch_size)


def _prepare(x: Tensor) -> Tensor:
    return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x


@torch.no_grad()
def _accuracy(model: StackedChild, x: Tensor, y: Tensor) -> Tensor:
    """Accuracy of every copy on ``(x, y)`` in eval mode: float64 [K]."""
    model.eval()
    correct = torch.zeros(model.copies, dtype=torch.float64)
    for start in range(0, y.shape[0], EVAL_BATCH):
        logits = model(_prepare(x[start : start + EVAL_BATCH]))  # [B, K, n]
        correct += (logits.argmax(-1) == y[start : start + EVAL_BATCH, None]).sum(0)
    model.train()
    return correct / max(1, y.shape[0])


def _train_child(
    rule: UpdateRule,
    name: str,
    task: Task,
    lrs: tuple[float, ...],
    steps: int,
    batch_size: int,
    seed: int,
    time_limit_s: float,
    divergence_factor: float,
    hurdle_at: int,
    hurdle_bar: float,
    rungs: dict[int, int],
) -> tuple[LRResult, ...]:
    start_time = time.perf_counter()
    assert task.train is not None and task.val is not None and task.test is not None
    init_seed, data_seed, rule_seed = _seeds(seed)
    model = StackedChild(child_spec(task), len(lrs), seed=init_seed)
    model.train()
    stack = _Stack(list(model.parameters()), rule.init_buffers(list(model.parameters())), lrs)
    rule_gen = torch.Generator().manual_seed(rule_seed)
    x_train, y_train = task.train
    batches = _batch_indices(len(task.train), steps, batch_size, torch.Generator().manual_seed(data_seed))
    copies = _Copies(lrs)
    initial_loss: Optional[Tensor] = None
    last_loss = torch.full((len(lrs),), float("nan"))

    def drop(stopped: list[int]) -> None:
        """Take the stopped positions out of the stack: they cost nothing more and touch nothing."""
        nonlocal model, initial_loss, last_loss
        keep = stack.drop(stopped)
        if keep is not None and stack.alive:
            model = model.select(keep)
            stack.params = list(model.parameters())
            index = torch.as_tensor(keep, dtype=torch.long)
            assert initial_loss is not None
            initial_loss, last_loss = initial_loss[index], last_loss[index]

    for step in range(1, steps + 1):
        if time.perf_counter() - start_time > time_limit_s:
            for j, i in enumerate(stack.alive):
                copies.stop(i, TIMEOUT, step - 1, float(last_loss[j]))
            return _results(copies)
        index = batches[step - 1]
        xb, yb = _prepare(x_train.index_select(0, index)), y_train.index_select(0, index)
        k = len(stack.alive)
        with torch.enable_grad():
            logits = model(xb)  # [B, K, n]
            losses = F.cross_entropy(logits.permute(0, 2, 1), yb[:, None].expand(-1, k), reduction="none").mean(0)
            grads = list(torch.autograd.grad(losses.sum(), stack.params))
        losses = losses.detach()
        if initial_loss is None:
            initial_loss = losses.clone()
        # The loss of the weights after step - 1 (before this update).
        bad = ~torch.isfinite(losses)
        blown = (losses > divergence_factor * initial_loss) | (losses > LOSS_CAP)
        if bool((bad | blown).any()):
            stopped = []
            for j, i in enumerate(stack.alive):
                if bool(bad[j]) or bool(blown[j]):
                    copies.stop(i, NAN if bool(bad[j]) else DIVERGED, step - 1, float(losses[j]))
                    stopped.append(j)
            keep = [j for j in range(k) if j not in stopped]
            losses = losses[keep]
            grads = [g[keep] for g in grads]
            drop(stopped)
            if not stack.alive:
                return _results(copies)
        last_loss = losses
        directions = _directions(rule, name, stack.params, grads, stack.buffers, step, steps, rule_gen)
        _apply(stack.params, directions, stack.lr_views)
        broken = _nonfinite_copies(stack.params, len(stack.alive))
        if bool(broken.any()):
            stopped = []
            for j, i in enumerate(stack.alive):
                if bool(broken[j]):
                    copies.stop(i, NAN, step, float(losses[j]))
                    stopped.append(j)
            drop(stopped)
            if not stack.alive:
                return _results(copies)
        if step != hurdle_at and step not in rungs:
            continue
        val_acc = _accuracy(model, *task.val)
        if step == hurdle_at and float(val_acc.max()) < hurdle_bar:
            test_acc = _accuracy(model, *task.test)
            for j, i in enumerate(stack.alive):
                copies.stop(i, HURDLE, step, float(last_loss[j]))
                copies.val[i], copies.test[i] = float(val_acc[j]), float(test_acc[j])
            return _results(copies)
        if step in rungs:
            pruned = _pruned_positions(val_acc.tolist(), [copies.lrs[i] for i in stack.alive], rungs[step])
            for j in pruned:
                i = stack.alive[j]
                copies.stop(i, PRUNED, step, float(last_loss[j]))
                copies.val[i] = float(val_acc[j])
            drop(pruned)

    val_acc = _accuracy(model, *task.val)
    test_acc = _accuracy(model, *task.test)
    for j, i in enumerate(stack.alive):
        copies.stop(i, OK, steps, float(last_loss[j]))
        copies.val[i], copies.test[i] = float(val_acc[j]), float(test_acc[j])
    return _results(copies)


def _results(copies: _Copies) -> tuple[LRResult, ...]:
    """One record per copy; copies stopped for NaN, divergence or time keep the floor accuracy 0."""
    return tuple(
        LRResult(
            lr=copies.lrs[i],
            val_acc=copies.val[i],
            test_acc=copies.test[i],
            status=Status(copies.status[i]),
            steps=copies.steps[i],
            final_loss=copies.loss[i],
        )
        for i in range(copies.k)
    )


# ------------------------------------------------------------------------------------------------
# Function tasks
# ------------------------------------------------------------------------------------------------
def _train_function(
    rule: UpdateRule,
    name: str,
    task: Task,
    lrs: tuple[float, ...],
    steps: int,
    seed: int,
    time_limit_s: float,
    divergence_factor: float,
    hurdle_at: int,
    hurdle_bar: float,
    rungs: dict[int, int],
) -> tuple[LRResult, ...]:
    start_time = time.perf_counter()
    fn = task.function
    assert fn is not None
    _, noise_seed, rule_seed = _seeds(seed)
    x0 = fn.x0.detach().to(torch.float32)
    w = x0.unsqueeze(0).repeat(len(lrs), 1).contiguous()
    stack = _Stack([w], rule.init_buffers([w]), lrs)
    rule_gen = torch.Generator().manual_seed(rule_seed)
    noise_gen = torch.Generator().manual_seed(noise_seed)
    f0 = float(fn.value(x0))
    copies = _Copies(lrs)
    values = fn.value(w)

    for step in range(1, steps + 1):
        if time.perf_counter() - start_time > time_limit_s:
            for j, i in enumerate(stack.alive):
                copies.stop(i, TIMEOUT, step - 1, float(values[j]))
            return _results(copies)
        w = stack.params[0]
        grad = fn.gradient(w)
        if fn.noise_std > 0.0:
            grad = grad + fn.noise_std * torch.randn(fn.dim, generator=noise_gen)  # one draw for all copies
        directions = _directions(rule, name, stack.params, [grad], stack.buffers, step, steps, rule_gen)
        _apply(stack.params, directions, stack.lr_views)
        values = fn.value(w)
        bad = ~torch.isfinite(values)
        blown = (values > divergence_factor * f0) | (values > LOSS_CAP)
        if bool((bad | blown).any()):
            stopped = []
            for j, i in enumerate(stack.alive):
                if bool(bad[j]) or bool(blown[j]):
                    copies.stop(i, NAN if bool(bad[j]) else DIVERGED, step, float(values[j]))
                    stopped.append(j)
            keep = stack.drop(stopped)
            if not stack.alive:
                return _results(copies)
            values = values[keep]
        if step != hurdle_at and step not in rungs:
            continue
        scores = [progress_score(f0, float(v)) for v in values]
        if step == hurdle_at and max(scores) < hurdle_bar:
            for j, i in enumerate(stack.alive):
                copies.stop(i, HURDLE, step, float(values[j]))
                copies.val[i] = copies.test[i] = scores[j]
            return _results(copies)
        if step in rungs:
            pruned = _pruned_positions(scores, [copies.lrs[i] for i in stack.alive], rungs[step])
            for j in pruned:
                i = stack.alive[j]
                copies.stop(i, PRUNED, step, float(values[j]))
                copies.val[i] = scores[j]
            keep = stack.drop(pruned)
            if keep is not None:
                values = values[keep]

    for j, i in enumerate(stack.alive):
        copies.stop(i, OK, steps, float(values[j]))
        copies.val[i] = copies.test[i] = progress_score(f0, float(values[j]))
    return _results(copies)

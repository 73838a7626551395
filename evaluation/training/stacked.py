"""Train the child with a rule at every learning rate of a grid: the reward of the whole project.

:func:`train_rule` trains ``K = len(lrs)`` copies of the child **at once** (a
:class:`~optsearch.evaluation.training.child.StackedChild`): all copies start from the same
initialisation (seeded by ``seed``) and see the same mini-batches, so they differ only in their
learning rate. Each step computes the rule's direction for all copies with one compiled
:class:`~optsearch.dsl.compiler.UpdateRule` (``directions``) and applies
``w_k ← w_k − lr_k · direction_k`` with the learning rates broadcast over the leading copy
dimension of every parameter. ``total_steps = steps`` for the decay schedules.

The reward is the final validation accuracy (the paper's choice); test accuracy is recorded but
never used for selection. Per copy the outcome is one :class:`~optsearch.evaluation.records.LRResult`:

- ``ok``: trained for all ``steps``; accuracies measured with batch-norm running statistics.
- ``nan``: NaN/inf in the copy's loss or weights; stopped at once.
- ``diverged``: training loss above ``divergence_factor`` × the initial loss, or above
  :data:`~.loop.LOSS_CAP`; stopped at once.
- ``timeout``: ``time_limit_s`` elapsed (checked between steps) before the copy finished.
- ``hurdle``: with ``hurdle=(h, threshold)``, the best validation accuracy of the still-training
  copies after ``h`` steps was below ``threshold``: every copy still training stops there and
  keeps its partial validation/test accuracy (the early hurdle; the bar is fixed per task, so the
  result is still a function of rule and seed alone).
- ``pruned``: successive halving (``halving=``) stopped the copy at a rung; it keeps its partial
  validation accuracy, which never becomes the reward.

A stopped copy records the floor accuracy 0.0 and is taken out of the stack at once (its slices
of the parameters, the rule's state and the learning rates are dropped), so nothing of it can
reach other copies and it costs no further compute. Bad rules are data: only an *exception*
raised inside the rule makes :func:`train_rule` raise :class:`~.loop.RuleFailure` (the caller
records status ``error``).

Function tasks (``quadratic``, ``rosenbrock``) go through the same loop (:func:`_run`, over a
:class:`~.problems.PointsProblem` instead of a :class:`~.problems.ChildProblem`): the parameters
are the points ``w [K, d]``, the "loss" is ``f(w)`` and the accuracy is the progress score of
:func:`~optsearch.evaluation.tasks.progress_score`. :func:`descend` runs that loop from any start
point with any stopping policy and reports every step (the Rosenbrock figure).

Reproducibility: initialisation, batch order, gradient noise and the rule's randomness
(``noise``, ``drop``) come from generators derived from ``seed`` only
(:func:`~.loop.derived_seeds`), so a run is deterministic for a fixed seed, learning-rate grid
and thread count. Copies are independent of each other except for rules with randomness, whose
draws are made for the whole stack.
"""

from __future__ import annotations

import math
from typing import Callable, Optional, Sequence, Union

import torch
from torch import Tensor

from optsearch.dsl.compiler import RuleConfig, UpdateRule, compile_rule
from optsearch.dsl.expr import Expr
from optsearch.dsl.optimizer import resolve_rule

from ..records import DIVERGED, HURDLE, NAN, OK, PRUNED, TIMEOUT, LRResult, Status
from ..tasks import Task, TestFunction, get_task
from .loop import DIVERGENCE_FACTOR, Clock, RuleFailure, derived_seeds, torch_threads
from .problems import ChildProblem, PointFailures, PointsProblem

__all__ = ["descend", "train_rule"]

#: ``observe(step, alive, points)``: called after every update with the original indices of the
#: copies still training and their parameters (before this step's failures are dropped).
Observer = Callable[[int, list[int], list[Tensor]], None]


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

    def results(self) -> tuple[LRResult, ...]:
        """One record per copy; copies stopped for NaN, divergence or time keep the floor 0."""
        return tuple(
            LRResult(
                lr=self.lrs[i],
                val_acc=self.val[i],
                test_acc=self.test[i],
                status=Status(self.status[i]),
                steps=self.steps[i],
                final_loss=self.loss[i],
            )
            for i in range(self.k)
        )


class _Stack:
    """The copies still training: their original indices, parameters, rule state and rates."""

    def __init__(self, params: list[Tensor], buffers: dict[str, list[Tensor]], lrs: Sequence[float]):
        self.alive = list(range(len(lrs)))
        self.params = params
        self.buffers = buffers
        self.lrs = torch.tensor(lrs, dtype=params[0].dtype)  # float32 for the child; a descent's own precision
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
        self.params = [p.index_select(0, index) for p in self.params]  # the problem may replace them
        self._views()
        return keep


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


def _pruned_positions(scores: Sequence[float], lrs: Sequence[float], keep: int) -> list[int]:
    """Positions outside the ``keep`` best scores (ties: the smaller learning rate stays)."""
    order = sorted(range(len(scores)), key=lambda j: (-scores[j], lrs[j]))
    return sorted(order[keep:])


def _run(
    rule: UpdateRule,
    name: str,
    problem: Union[ChildProblem, PointsProblem],
    lrs: tuple[float, ...],
    steps: int,
    clock: Clock,
    rule_seed: int,
    *,
    hurdle_at: int = 0,
    hurdle_bar: float = 0.0,
    rungs: Optional[dict[int, int]] = None,
    observe: Optional[Observer] = None,
) -> tuple[LRResult, ...]:
    """The stacked training loop: every copy of ``problem`` at its own learning rate."""
    rungs = rungs or {}
    stack = _Stack(problem.params, rule.init_buffers(problem.params), lrs)
    rule_gen = torch.Generator().manual_seed(rule_seed)
    copies = _Copies(lrs)

    def stop(positions: Sequence[int], status: str, steps_done: int, losses: Tensor) -> None:
        for j in positions:
            copies.stop(stack.alive[j], status, steps_done, float(losses[j]))

    def drop(positions: list[int]) -> None:
        """Take the stopped positions out of the stack: they cost nothing more and touch nothing."""
        keep = stack.drop(positions)
        if keep is not None and stack.alive:
            params = problem.select(keep)
            if params is not None:
                stack.params = params

    def failed(nan: Tensor, blown: Tensor) -> list[int]:
        return [j for j in range(len(stack.alive)) if bool(nan[j]) or bool(blown[j])]

    def stop_failed(positions: list[int], nan: Tensor, steps_done: int, losses: Tensor) -> None:
        for j in positions:
            stop([j], NAN if bool(nan[j]) else DIVERGED, steps_done, losses)

    for step in range(1, steps + 1):
        if clock.expired():
            stop(range(len(stack.alive)), TIMEOUT, step - 1, problem.loss)
            return copies.results()
        losses, grads = problem.gradients(step, stack.params)
        if losses is not None:  # the loss of the weights after step - 1 (before this update)
            nan, blown = problem.pre_failures(losses)
            stopped = failed(nan, blown) if bool((nan | blown).any()) else []
            if stopped:
                stop_failed(stopped, nan, step - 1, losses)
                keep = [j for j in range(len(stack.alive)) if j not in stopped]
                losses = losses[keep]
                grads = [g[keep] for g in grads]
                drop(stopped)
                if not stack.alive:
                    return copies.results()
            problem.loss = losses
        directions = _directions(rule, name, stack.params, grads, stack.buffers, step, steps, rule_gen)
        _apply(stack.params, directions, stack.lr_views)
        if observe is not None:
            observe(step, stack.alive, stack.params)
        nan, blown = problem.post_failures(stack.params)
        if bool((nan | blown).any()):
            stopped = failed(nan, blown)
            stop_failed(stopped, nan, step, problem.loss)
            drop(stopped)
            if not stack.alive:
                return copies.results()
        if step != hurdle_at and step not in rungs:
            continue
        val = problem.val_scores()
        if step == hurdle_at and max(val) < hurdle_bar:
            test = problem.test_scores()
            for j, i in enumerate(stack.alive):
                copies.stop(i, HURDLE, step, float(problem.loss[j]))
                copies.val[i], copies.test[i] = val[j], test[j]
            return copies.results()
        if step in rungs:
            pruned = _pruned_positions(val, [copies.lrs[i] for i in stack.alive], rungs[step])
            for j in pruned:
                i = stack.alive[j]
                copies.stop(i, PRUNED, step, float(problem.loss[j]))
                copies.val[i] = val[j]
            drop(pruned)

    val, test = problem.val_scores(), problem.test_scores()
    for j, i in enumerate(stack.alive):
        copies.stop(i, OK, steps, float(problem.loss[j]))
        copies.val[i], copies.test[i] = val[j], test[j]
    return copies.results()


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
    divergence_factor: Optional[float] = None,
    hurdle: Optional[tuple[int, float]] = None,
    halving: Optional[Sequence[tuple[int, int]]] = None,
    num_threads: Optional[int] = 1,
) -> tuple[LRResult, ...]:
    """Train the child with rule ``expr`` once per learning rate; one :class:`LRResult` per lr.

    ``expr`` is an ``Expr``, rule text or a name of ``NAMED_RULES``; ``task`` a :class:`Task` or a
    task name. ``lrs``, ``steps``, ``batch_size``, ``time_limit_s``, ``divergence_factor`` and
    ``halving`` default to the task's :class:`~optsearch.evaluation.tasks.TaskDefaults`
    (pass ``halving=()`` to train every rate to the end; ``time_limit_s=None`` there means the
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
    divergence_factor = float(defaults.divergence_factor if divergence_factor is None else divergence_factor)
    if halving is None:  # the task's rungs, given as fractions of the steps
        halving = tuple((max(1, int(round(fraction * steps))), keep) for fraction, keep in defaults.halving)
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
        clock = Clock(time_limit_s)
        init_seed, data_seed, rule_seed = derived_seeds(seed)
        problem: Union[ChildProblem, PointsProblem]
        if task.is_function:
            assert task.function is not None
            x0 = task.function.x0.detach().to(torch.float32)
            problem = PointsProblem(
                task.function, x0, len(lrs), noise_seed=data_seed, divergence_factor=divergence_factor
            )
        else:
            problem = ChildProblem(
                task,
                len(lrs),
                steps,
                batch_size,
                init_seed=init_seed,
                data_seed=data_seed,
                divergence_factor=divergence_factor,
            )
        return _run(
            rule, name, problem, lrs, steps, clock, rule_seed, hurdle_at=hurdle_at, hurdle_bar=hurdle_bar, rungs=rungs
        )


def descend(
    expr: Union[Expr, str, UpdateRule],
    fn: TestFunction,
    lrs: Sequence[float],
    steps: int,
    *,
    seed: int = 0,
    start: Optional[Tensor] = None,
    failures: Optional[PointFailures] = None,
    observe: Optional[Observer] = None,
    rule_config: Optional[RuleConfig] = None,
    divergence_factor: float = DIVERGENCE_FACTOR,
) -> tuple[LRResult, ...]:
    """Descend the test function ``fn`` with ``expr`` at every learning rate, by the loop of :func:`train_rule`.

    ``expr`` may also be a compiled :class:`UpdateRule` (whose ``directions`` the loop applies).
    ``start`` (default ``fn.x0`` in float32) is the start point; its dtype is the precision of
    the descent. ``failures(points, values) -> (nan, diverged)`` decides which points stop after
    an update (default: the trainer's health policy against ``f(start)``); ``observe`` sees every
    step (see :data:`Observer`). ``steps = 0`` returns the start at every learning rate.
    ``final_loss`` of a finished copy is its final ``f``. Raises :class:`RuleFailure` when the
    rule raises.
    """
    lrs = tuple(float(lr) for lr in lrs)
    if not lrs or steps < 0:
        raise ValueError("give at least one learning rate and steps >= 0")
    rule = expr if isinstance(expr, UpdateRule) else _compile(expr, rule_config)
    name = str(rule.expr) if isinstance(expr, UpdateRule) else _rule_name(expr)
    x0 = (fn.x0.to(torch.float32) if start is None else start).detach()
    with torch.no_grad():
        _, noise_seed, rule_seed = derived_seeds(seed)
        problem = PointsProblem(
            fn, x0, len(lrs), noise_seed=noise_seed, divergence_factor=divergence_factor, failures=failures
        )
        return _run(rule, name, problem, lrs, steps, Clock(math.inf), rule_seed, observe=observe)

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

:func:`train_rules` trains several rules (each with the whole grid) as one stack: the loop
of :mod:`.stack_loop`, of which :func:`train_rule` is the one-rule case. Each rule's result is
the one it gets alone, and a rule that raises ends alone. Both train by one
:class:`~.protocol.TrainingProtocol` (grid, steps, batch size, limits, hurdle, halving), given
whole or built from keyword settings over the task's defaults.

Function tasks (``quadratic``, ``rosenbrock``) go through the same loop (over a
:class:`~.problems.PointsProblem` instead of a :class:`~.problems.ChildProblem`): the parameters
are the points ``w [K, d]``, the "loss" is ``f(w)`` and the accuracy is the progress score of
:func:`~optsearch.evaluation.tasks.progress_score`. :func:`descend` runs that loop from any start
point with any stopping policy and reports every step (the Rosenbrock figure).

Reproducibility: initialisation, batch order, gradient noise and the rule's randomness
(``noise``, ``drop``) come from generators derived from ``seed`` only
(:func:`~.loop.derived_seeds`), so a run is deterministic for a fixed seed, learning-rate grid
and thread count. Copies are independent of each other except for rules with randomness, whose
draws are made for the rule's whole slice of the stack (its own generator, as alone).
"""

from __future__ import annotations

import math
import time
from typing import Any, Optional, Sequence, Union

import torch
from torch import Tensor

from optsearch.dsl.compiler import RuleConfig, UpdateRule, compile_rule
from optsearch.dsl.expr import Expr
from optsearch.dsl.optimizer import resolve_rule

from ..records import LRResult
from ..tasks import Task, TestFunction, get_task
from .loop import DIVERGENCE_FACTOR, RuleFailure, derived_seeds, torch_threads
from .problems import ChildProblem, PointFailures, PointsProblem
from .protocol import TrainingProtocol
from .stack_loop import Member, Observer, run_stack

__all__ = ["descend", "train_population", "train_rule", "train_rules"]

def _rule_name(expr: Union[Expr, str]) -> str:
    return expr if isinstance(expr, str) else str(expr)


def _compile(expr: Union[Expr, str], config: Optional[RuleConfig]) -> UpdateRule:
    try:
        return compile_rule(resolve_rule(expr), config if config is not None else RuleConfig())
    except Exception as error:  # a rule that cannot even be compiled is a failed rule
        raise RuleFailure(_rule_name(expr), f"{type(error).__name__}: {error}") from error


def _resolved(task: Task, protocol: Optional[TrainingProtocol], settings: dict[str, Any]) -> TrainingProtocol:
    """``protocol``, or the one the keyword ``settings`` give over the task's defaults."""
    if protocol is None:
        return TrainingProtocol.for_task(task.defaults, **settings)
    if settings:
        raise TypeError(f"give a protocol or its settings ({', '.join(settings)}), not both")
    return protocol


def train_rules(
    exprs: Sequence[Union[Expr, str]],
    task: Union[Task, str],
    protocol: Optional[TrainingProtocol] = None,
    *,
    seed: int = 0,
    num_threads: Optional[int] = 1,
    device: Union[str, torch.device, None] = None,
    **settings: Any,
) -> list[Union[tuple[LRResult, ...], RuleFailure]]:
    """Train R rules × K learning rates as one stacked child; per rule, what :func:`train_rule` gives.

    Every rule's result equals its :func:`train_rule` result for the same arguments (the copies
    share the initialisation and batches of ``seed`` and no operation mixes them; see
    :mod:`.stack_loop`), except that a rule that raises or cannot be compiled gives its
    :class:`RuleFailure` in its place instead of raising, and the others train on. The time
    limit is per rule (its own update time plus an equal share of the shared passes).
    ``protocol`` and ``settings`` are as for :func:`train_rule`; ``device`` (default: the CPU) is
    where the child, the data and the rules' state live.
    """
    if isinstance(task, str):
        task = get_task(task)
    protocol = _resolved(task, protocol, settings)
    # Test functions are a few numbers: they always descend on the CPU (their noise generator is there).
    where = torch.device("cpu" if device is None or task.is_function else device)
    setup_started = time.perf_counter()
    init_seed, data_seed, rule_seed = derived_seeds(seed)
    compiled: list[Union[UpdateRule, RuleFailure]] = []
    for expr in exprs:
        try:
            compiled.append(_compile(expr, protocol.rule_config))
        except RuleFailure as failure:
            compiled.append(failure)
    rules = [rule for rule in compiled if isinstance(rule, UpdateRule)]
    results: list[Union[tuple[LRResult, ...], RuleFailure]] = []
    if rules:
        with torch_threads(num_threads), torch.no_grad():
            k = len(protocol.lrs)
            members = [
                Member(rule, _rule_name(expr), protocol.lrs, rule_seed, where)
                for expr, rule in zip(exprs, compiled)
                if isinstance(rule, UpdateRule)
            ]
            problem: Union[ChildProblem, PointsProblem]
            if task.is_function:
                assert task.function is not None
                x0 = task.function.x0.detach().to(where, torch.float32)
                problem = PointsProblem(
                    task.function, x0, k * len(rules), noise_seed=data_seed, divergence_factor=protocol.divergence_factor
                )
            else:
                problem = ChildProblem(
                    task,
                    k * len(rules),
                    protocol.steps,
                    protocol.batch_size,
                    init_seed=init_seed,
                    data_seed=data_seed,
                    divergence_factor=protocol.divergence_factor,
                    device=where,
                )
            results = run_stack(
                members,
                problem,
                protocol.steps,
                time_limit_s=protocol.time_limit_s,
                hurdle_at=protocol.hurdle_at,
                hurdle_bar=protocol.hurdle_bar,
                rungs=protocol.rungs,
                setup_s=time.perf_counter() - setup_started,
            )
    trained = iter(results)
    return [rule if isinstance(rule, RuleFailure) else next(trained) for rule in compiled]


def train_population(
    exprs: Sequence[Union[Expr, str]],
    task: Union[Task, str],
    protocol: Optional[TrainingProtocol] = None,
    **options: Any,
) -> list[Union[tuple[LRResult, ...], RuleFailure]]:
    """The old name of :func:`train_rules` (same arguments, same results)."""
    return train_rules(exprs, task, protocol, **options)


def train_rule(
    expr: Union[Expr, str],
    task: Union[Task, str],
    protocol: Optional[TrainingProtocol] = None,
    *,
    seed: int = 0,
    num_threads: Optional[int] = 1,
    device: Union[str, torch.device, None] = None,
    **settings: Any,
) -> tuple[LRResult, ...]:
    """Train the child with rule ``expr`` once per learning rate; one :class:`LRResult` per lr.

    ``expr`` is an ``Expr``, rule text or a name of ``NAMED_RULES``; ``task`` a :class:`Task` or a
    task name. ``protocol`` is the :class:`~.protocol.TrainingProtocol` to train by; without one,
    the keyword ``settings`` (its field names: ``lrs``, ``steps``, ``batch_size``,
    ``time_limit_s``, ``divergence_factor``, ``hurdle``, ``halving``, ``rule_config``) build it
    over the task's :class:`~optsearch.evaluation.tasks.TaskDefaults`
    (:meth:`~.protocol.TrainingProtocol.for_task`): ``lrs``, ``steps``, ``batch_size``,
    ``time_limit_s``, ``divergence_factor`` and ``halving`` default to the task's
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
    ``device``: where to train (default: the CPU).

    This is :func:`train_rules` with one rule. Raises :class:`RuleFailure` when the rule
    itself raises; never for NaN, inf or divergence.
    """
    (result,) = train_rules([expr], task, protocol, seed=seed, num_threads=num_threads, device=device, **settings)
    if isinstance(result, RuleFailure):
        raise result
    return result


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
        member = Member(rule, name, lrs, rule_seed, x0.device)
        (result,) = run_stack([member], problem, steps, time_limit_s=math.inf, observe=observe)
    if isinstance(result, RuleFailure):
        raise result
    return result

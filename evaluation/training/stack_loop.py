"""The one stacked training loop: R rules × K learning rates as one stack of copies.

A *member* is one rule with its learning-rate grid. All members' copies live in one stack (the
child's :class:`~.child.StackedChild`, or the points of a test function), member after member,
so one forward and backward pass per step serves them all; each member then computes its own
update on **its slice** of the stacked parameters and gradients (contiguous views along the
copy dimension), with its own running averages and its own generator for ``noise``/``drop``:

.. math:: w_{r,k} \\leftarrow w_{r,k} - \\lambda_{r,k} \\cdot \\text{rule}_r(g_{r,k}, \\text{state}_r)

No operation mixes copies, so a member trains exactly as it would alone (same initialisation and
batches for a seed, same draws from its generator, whose shapes are its own slice's), and a copy
that stops leaves the stack at once (see :mod:`.stacked` for the statuses). What is per member:

- a rule that **raises** ends that member alone with a :class:`~.loop.RuleFailure` (the others
  go on); NaN and divergence stop single copies, as always;
- the **hurdle** and **successive halving** are judged within the member's own copies;
- the **time limit** is per member: each member is charged its own update time plus an equal
  share of the shared work (forward, backward, accuracy passes) among the members still
  training, so a stack of R rules may take R limits in all, and a slow rule times out alone.
"""

from __future__ import annotations

import time
from typing import Callable, Optional, Sequence, Union

import torch
from torch import Tensor

from optsearch.dsl.compiler import UpdateRule

from ..records import DIVERGED, HURDLE, NAN, OK, PRUNED, TIMEOUT, LRResult, Status
from .loop import RuleFailure
from .problems import ChildProblem, PointsProblem

__all__ = ["Member", "Observer", "run_stack"]

#: ``observe(step, alive, points)``: called after every update with the original indices of the
#: copies still training and their parameters (before this step's failures are dropped); only
#: for a stack of one rule (:func:`~.stacked.descend`).
Observer = Callable[[int, list[int], list[Tensor]], None]

Problem = Union[ChildProblem, PointsProblem]


class Member:
    """One rule of the stack: its compiled update, its copies (one per learning rate), its state."""

    def __init__(self, rule: UpdateRule, name: str, lrs: Sequence[float], rule_seed: int, device: torch.device):
        self.rule = rule
        self.name = name
        self.grid = [float(lr) for lr in lrs]
        k = len(self.grid)
        self.status: list[Optional[str]] = [None] * k
        self.steps = [0] * k
        self.loss = [float("nan")] * k
        self.val = [0.0] * k
        self.test = [0.0] * k
        self.alive = list(range(k))  # grid indices still training, in stack order
        self.generator = torch.Generator(device=device).manual_seed(rule_seed)
        self.failure: Optional[RuleFailure] = None
        self.used_s = 0.0  # wall time charged to this member (see the module docstring)
        self.buffers: dict[str, list[Tensor]] = {}
        self.lrs = torch.empty(0)
        self.lr_views: list[Tensor] = []

    def start(self, params: list[Tensor]) -> None:
        """Zero state and the learning rates for this member's slice ``params`` of the stack."""
        self.buffers = self.rule.init_buffers(params)
        self.lrs = torch.tensor(self.grid, dtype=params[0].dtype, device=params[0].device)
        self.set_views(params)

    def set_views(self, params: list[Tensor]) -> None:
        """Per-parameter views of the learning rates that broadcast over ``params`` (this slice)."""
        k = len(self.alive)
        self.lr_views = [self.lrs.view(k, *([1] * (p.dim() - 1))) for p in params]

    def stop(self, local: int, status: str, steps: int, loss: float) -> None:
        """End the copy at position ``local`` of this member's slice."""
        i = self.alive[local]
        self.status[i], self.steps[i], self.loss[i] = status, steps, loss

    def keep(self, local: list[int]) -> None:
        """Keep only the copies at positions ``local`` of the slice (state and rates follow)."""
        index = torch.as_tensor(local, dtype=torch.long, device=self.lrs.device)
        self.alive = [self.alive[j] for j in local]
        if self.alive:
            self.lrs = self.lrs.index_select(0, index)
            self.buffers = {name: [t.index_select(0, index) for t in ts] for name, ts in self.buffers.items()}

    def update(self, params: list[Tensor], grads: list[Tensor], step: int, total_steps: int) -> None:
        """``w_k -= lr_k · rule(...)_k`` on this member's slice; a raising rule becomes :attr:`failure`."""
        try:
            directions = self.rule.directions(
                params, grads, self.buffers, step=step, total_steps=total_steps, generator=self.generator
            )
        except Exception as error:
            self.failure = RuleFailure(self.name, f"{type(error).__name__}: {error}", step)
            return
        torch._foreach_mul_(directions, self.lr_views)
        torch._foreach_sub_(params, directions)

    def results(self) -> Union[tuple[LRResult, ...], RuleFailure]:
        """One record per learning rate (stopped copies keep the floor 0), or the rule's failure."""
        if self.failure is not None:
            return self.failure
        return tuple(
            LRResult(
                lr=self.grid[i],
                val_acc=self.val[i],
                test_acc=self.test[i],
                status=Status(self.status[i]),
                steps=self.steps[i],
                final_loss=self.loss[i],
            )
            for i in range(len(self.grid))
        )


class _Stack:
    """The members still training and where each one's copies sit in the stack."""

    def __init__(self, problem: Problem, members: list[Member]):
        self.problem = problem
        self.params = problem.params
        self.members = list(members)
        for member, (a, b) in zip(self.members, self.spans()):
            member.start(self.slice(self.params, a, b))

    def spans(self) -> list[tuple[int, int]]:
        """``(start, end)`` of each member's copies in the stack, in member order."""
        spans, start = [], 0
        for member in self.members:
            spans.append((start, start + len(member.alive)))
            start += len(member.alive)
        return spans

    @staticmethod
    def slice(tensors: list[Tensor], a: int, b: int) -> list[Tensor]:
        return [t[a:b] for t in tensors]

    def owner(self) -> list[tuple[Member, int]]:
        """For every stack position: its member and its position within the member's slice."""
        return [(m, j - a) for m, (a, b) in zip(self.members, self.spans()) for j in range(a, b)]

    def drop(self, positions: set[int]) -> Optional[list[int]]:
        """Take the copies at ``positions``, and every copy of a member whose rule failed, out of
        the stack; returns the kept positions (None when nothing was dropped)."""
        spans = self.spans()
        removed = set(positions)
        for member, (a, b) in zip(self.members, spans):
            if member.failure is not None:
                removed.update(range(a, b))
        if not removed:
            return None
        keep = [j for j in range(spans[-1][1]) if j not in removed]
        for member, (a, b) in zip(self.members, spans):
            if member.failure is not None:
                member.alive = []
                continue
            local = [j - a for j in range(a, b) if j not in removed]
            if len(local) < b - a:
                member.keep(local)
        self.members = [m for m in self.members if m.alive]
        if self.members:
            params = self.problem.select(keep)
            if params is None:  # a descent: the stack selects the points itself
                index = torch.as_tensor(keep, dtype=torch.long, device=self.params[0].device)
                params = [p.index_select(0, index) for p in self.params]
            self.params = params
            for member, (a, b) in zip(self.members, self.spans()):
                member.set_views(self.slice(self.params, a, b))
        return keep


def run_stack(
    members: list[Member],
    problem: Problem,
    steps: int,
    *,
    time_limit_s: float,
    hurdle_at: int = 0,
    hurdle_bar: float = 0.0,
    rungs: Optional[dict[int, int]] = None,
    observe: Optional[Observer] = None,
    setup_s: float = 0.0,
) -> list[Union[tuple[LRResult, ...], RuleFailure]]:
    """Train every member's copies of ``problem`` for ``steps`` updates; one result per member, in order.

    ``setup_s``: the wall time spent building the problem, charged to the members in equal shares.
    """
    rungs = rungs or {}
    results_order = list(members)
    for member in members:
        member.used_s = setup_s / max(1, len(members))
    stack = _Stack(problem, members)

    def charge_shared(started: float) -> None:
        if stack.members:
            share = (time.perf_counter() - started) / len(stack.members)
            for member in stack.members:
                member.used_s += share

    def stop_positions(positions: Sequence[int], status: str, steps_done: int, losses: Tensor) -> set[int]:
        owners = stack.owner()
        for j in positions:
            member, local = owners[j]
            member.stop(local, status, steps_done, float(losses[j]))
        return set(positions)

    def stop_failed(nan: Tensor, blown: Tensor, steps_done: int, losses: Tensor) -> set[int]:
        bad = (nan | blown).tolist()
        nan_list = nan.tolist()
        owners = stack.owner()
        stopped = set()
        for j, is_bad in enumerate(bad):
            if is_bad:
                member, local = owners[j]
                member.stop(local, NAN if nan_list[j] else DIVERGED, steps_done, float(losses[j]))
                stopped.add(j)
        return stopped

    for step in range(1, steps + 1):
        expired = [m for m in stack.members if m.used_s > time_limit_s]
        if expired:
            owners = stack.owner()
            out = {j for j, (member, _) in enumerate(owners) if member in expired}
            stack.drop(stop_positions(sorted(out), TIMEOUT, step - 1, problem.loss))
            if not stack.members:
                break
        started = time.perf_counter()
        losses, grads = problem.gradients(step, stack.params)
        if losses is not None:  # the loss of the weights after step - 1 (before this update)
            nan, blown = problem.pre_failures(losses)
            if bool((nan | blown).any()):
                stopped = stop_failed(nan, blown, step - 1, losses)
                keep = stack.drop(stopped)
                if not stack.members:
                    break
                assert keep is not None
                index = torch.as_tensor(keep, dtype=torch.long, device=losses.device)
                losses = losses.index_select(0, index)
                grads = [g.index_select(0, index) for g in grads]
            problem.loss = losses
        charge_shared(started)

        failed = False
        for member, (a, b) in zip(stack.members, stack.spans()):
            own = time.perf_counter()
            member.update(stack.slice(stack.params, a, b), stack.slice(grads, a, b), step, steps)
            member.used_s += time.perf_counter() - own
            failed = failed or member.failure is not None
        if failed:
            stack.drop(set())
            if not stack.members:
                break

        started = time.perf_counter()
        if observe is not None:
            observe(step, stack.members[0].alive, stack.params)
        nan, blown = problem.post_failures(stack.params)
        if bool((nan | blown).any()):
            stack.drop(stop_failed(nan, blown, step, problem.loss))
            if not stack.members:
                break
        if step == hurdle_at or step in rungs:
            _judge(stack, problem, step, hurdle_at, hurdle_bar, rungs)
        charge_shared(started)
        if not stack.members:
            break
    else:
        if stack.members:
            val, test = problem.val_scores(), problem.test_scores()
            for j, (member, local) in enumerate(stack.owner()):
                member.stop(local, OK, steps, float(problem.loss[j]))
                i = member.alive[local]
                member.val[i], member.test[i] = val[j], test[j]
    return [member.results() for member in results_order]


def _judge(stack: _Stack, problem: Problem, step: int, hurdle_at: int, hurdle_bar: float, rungs: dict[int, int]) -> None:
    """The hurdle and the halving rung at ``step``, each member judged on its own copies."""
    val = problem.val_scores()
    test: Optional[list[float]] = None
    out: set[int] = set()
    for member, (a, b) in zip(stack.members, stack.spans()):
        if step == hurdle_at and max(val[a:b]) < hurdle_bar:
            test = problem.test_scores() if test is None else test
            for j in range(a, b):
                member.stop(j - a, HURDLE, step, float(problem.loss[j]))
                i = member.alive[j - a]
                member.val[i], member.test[i] = val[j], test[j]
            out.update(range(a, b))
            continue
        if step in rungs:
            scores = val[a:b]
            order = sorted(range(b - a), key=lambda j: (-scores[j], member.grid[member.alive[j]]))
            for local in sorted(order[rungs[step]:]):  # ties: the smaller learning rate stays
                member.stop(local, PRUNED, step, float(problem.loss[a + local]))
                member.val[member.alive[local]] = scores[local]
                out.add(a + local)
    stack.drop(out)

"""The unit of work a worker runs: train a group of rules (one or more) as one stacked child on
one task (:class:`TrainingJob`), by the config's training protocol, hurdle and halving included.

Top-level and picklable, so the ``process`` (spawn) and ``ray`` backends can import it. Tasks
are loaded once per worker process, moved to the training device once, and kept.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

from optsearch.dsl import parse

from .config import FLOOR_REWARD, EvalConfig
from .records import DIVERGED, ERROR, HURDLE, NAN, OK, TIMEOUT, LRResult, Outcome, Status


@dataclass(frozen=True)
class TrainingJob:
    """Train the ``rules`` (texts) together as one stacked child, with the resolved ``config`` and ``seed``."""

    rules: tuple[str, ...]
    config: EvalConfig
    seed: int
    data_dir: Optional[str] = None


@lru_cache(maxsize=8)
def _load_task(name: str, data_dir: Optional[str], device: str = "cpu"):
    """The task, its data moved to ``device`` once per worker process and kept."""
    import torch

    from .tasks import get_task
    from .training.problems import task_on

    return task_on(get_task(name, data_dir=data_dir), torch.device(device))


def aggregate(per_lr: tuple[LRResult, ...], floor: float) -> tuple[Status, float, Optional[float], float, float]:
    """(status, reward, best lr, val acc, test acc) of a grid: the best healthy learning rate wins.

    When no learning rate trained healthily the status is the most telling failure
    (timeout, then nan, then diverged) and the reward is the floor.
    """
    healthy = [r for r in per_lr if r.status in (OK, HURDLE)]
    if healthy:
        best = max(healthy, key=lambda r: (r.val_acc, -r.lr))
        return best.status, best.val_acc, best.lr, best.val_acc, best.test_acc
    statuses = {r.status for r in per_lr}
    for status in (TIMEOUT, NAN, DIVERGED):
        if status in statuses:
            return status, floor, None, floor, floor
    return next(iter(statuses)), floor, None, floor, floor


def failure_outcome(error: str, wall_s: float, kind: str = "error") -> Outcome:
    """The outcome of an evaluation that gave no result: ``"<kind>: <error>"``, the floor, one evaluation's cost."""
    status = TIMEOUT if kind == "timeout" else ERROR
    return Outcome(status, FLOOR_REWARD, cost=1.0, wall_s=wall_s, detail=f"{kind}: {error}")


def _outcome(per_lr: tuple[LRResult, ...], config: EvalConfig, wall_s: float) -> Outcome:
    status, reward, lr, val_acc, test_acc = aggregate(per_lr, FLOOR_REWARD)
    cost = sum(r.steps for r in per_lr) / config.full_copy_steps
    return Outcome(status, reward, lr, val_acc, test_acc, per_lr, cost, wall_s)


def _train(rules: tuple[str, ...], config: EvalConfig, seed: int, data_dir: Optional[str]) -> list:
    from .training import train_rules

    device = config.device or "cpu"
    exprs = [parse(rule) for rule in rules]
    return train_rules(exprs, _load_task(config.task, data_dir, device), config.training_protocol(), seed=seed, device=device)


def run_training_job(job: TrainingJob) -> list[Outcome]:
    """Train the job's rules as one stacked child; one outcome per rule, each what the rule gets alone.

    A rule that raises gets the outcome the executor gives a job that raises (``error``, the
    floor, ``"error: RuleFailure: ..."``: :func:`failure_outcome`), and the others are unaffected. Each rule's ``wall_s`` is the
    job's wall time divided by its number of rules.
    """
    from .training import RuleFailure

    start = time.perf_counter()
    results = _train(job.rules, job.config, job.seed, job.data_dir)
    wall_s = (time.perf_counter() - start) / max(1, len(job.rules))
    return [
        failure_outcome(f"{type(r).__name__}: {r}", wall_s) if isinstance(r, RuleFailure) else _outcome(r, job.config, wall_s)
        for r in results
    ]

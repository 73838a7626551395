"""The unit of work a worker runs: train one rule's children on one task (hurdle, then full).

Top-level and picklable, so the ``process`` (spawn) and ``ray`` backends can import it. Tasks are
loaded once per worker process and kept.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

from optsearch.dsl import parse

from .config import FLOOR_REWARD, EvalConfig
from .records import DIVERGED, HURDLE, NAN, OK, TIMEOUT, LRResult, Outcome, Status


@dataclass(frozen=True)
class TrainJob:
    """Train ``rule`` (text) on ``task`` with the resolved ``config`` and ``seed``."""

    rule: str
    config: EvalConfig
    seed: int
    data_dir: Optional[str] = None


@lru_cache(maxsize=8)
def _load_task(name: str, data_dir: Optional[str]):
    from .tasks import get_task

    return get_task(name, data_dir=data_dir)


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


def run_train_job(job: TrainJob) -> Outcome:
    """Train the rule at every learning rate of the grid, with the early hurdle if enabled."""
    from .training import train_rule

    start = time.perf_counter()
    config = job.config
    task = _load_task(config.task, job.data_dir)
    per_lr = train_rule(
        parse(job.rule),
        task,
        lrs=config.lrs,
        steps=config.steps,
        batch_size=config.batch_size,
        seed=job.seed,
        time_limit_s=config.time_limit_s,
        rule_config=config.rule_config,
        divergence_factor=config.divergence_factor,
        hurdle=(config.hurdle_steps, config.hurdle_threshold) if config.hurdle else None,
        halving=config.halving_steps,
    )
    status, reward, lr, val_acc, test_acc = aggregate(per_lr, FLOOR_REWARD)
    cost = sum(r.steps for r in per_lr) / config.full_copy_steps
    wall_s = time.perf_counter() - start
    return Outcome(status, reward, lr, val_acc, test_acc, per_lr, cost, wall_s)

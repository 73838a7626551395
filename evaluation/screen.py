"""The cheap screen: does the rule decrease a simple loss at *any* learning rate of a wide grid?

Rules that cannot (constants, pure noise, rules blind to g, rules that ascend) are resolved with
status ``screened`` and the floor reward before any training on the real task. The screen trains
the rule on the noisy ``quadratic`` task for a few hundred cheap steps at every learning rate of
:data:`SCREEN_LRS` and passes it if the best progress score reaches :data:`MIN_PROGRESS`
(score = log10(f0 / f_T) / 6, so 0.05 means the loss fell at least about twofold).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from optsearch.dsl import Expr, RuleConfig

SCREEN_TASK = "quadratic"
SCREEN_LRS = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)
SCREEN_STEPS = 200
MIN_PROGRESS = 0.05
# A screen costs a few milliseconds against seconds for a child's training: ~1e-3 of an evaluation.
SCREEN_COST = 1e-3


@dataclass(frozen=True)
class ScreenVerdict:
    """Whether the rule passed, and the best progress score it reached."""

    passed: bool
    best_score: float


@lru_cache(maxsize=1)
def _screen_task():
    from .tasks import get_task

    return get_task(SCREEN_TASK)


def screen_rule(expr: Expr, *, seed: int = 0, rule_config: RuleConfig = RuleConfig()) -> ScreenVerdict:
    """Run the screen on ``expr``; never raises for a pathological rule (it just fails)."""
    from .training import RuleFailure, TrainingProtocol, train_rule

    task = _screen_task()
    protocol = TrainingProtocol.for_task(
        task.defaults, lrs=SCREEN_LRS, steps=SCREEN_STEPS, batch_size=1, time_limit_s=30.0, rule_config=rule_config
    )
    try:
        per_lr = train_rule(expr, task, protocol, seed=seed)
    except RuleFailure:
        return ScreenVerdict(False, 0.0)
    best = max((r.val_acc for r in per_lr), default=0.0)
    return ScreenVerdict(best >= MIN_PROGRESS, best)

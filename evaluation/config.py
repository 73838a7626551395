"""The evaluation protocol: everything that decides a rule's reward, hashed into the cache key."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Optional

from optsearch.dsl import RuleConfig

from .tasks import DEFAULT_TASK, TaskDefaults

FLOOR_REWARD = 0.0


@dataclass(frozen=True)
class EvalConfig:
    """How a rule is scored. ``None`` fields take the task's defaults (see :mod:`.tasks`).

    - ``steps``/``batch_size``/``lrs``: the child's training budget and learning-rate grid; the
      reward is the best validation accuracy over the grid.
    - ``screen``: reject rules that cannot decrease the quadratic at any grid learning rate
      (status ``screened``, the floor reward, a sliver of cost) before training on the task.
    - ``hurdle``: after ``hurdle_fraction`` of the steps, a rule whose best validation accuracy is
      below ``hurdle_threshold`` (the task's calibrated value when ``None``) stops with status
      ``hurdle`` and keeps that partial accuracy as its reward. The threshold is fixed per task
      and never depends on earlier proposals, so a reward is a function of (rule, seed) alone.
    - ``time_limit_s``: wall-clock limit of one evaluation (status ``timeout``). It does not enter
      the cache key: it changes whether a result is obtained, not what it is.
    """

    task: str = DEFAULT_TASK
    steps: Optional[int] = None
    batch_size: Optional[int] = None
    lrs: Optional[tuple[float, ...]] = None
    screen: bool = True
    hurdle: bool = True
    hurdle_fraction: float = 0.1
    hurdle_threshold: Optional[float] = None
    divergence_factor: float = 10.0
    time_limit_s: float = 300.0
    rule_config: RuleConfig = field(default_factory=RuleConfig)

    def with_task_defaults(self, defaults: "TaskDefaults") -> "EvalConfig":
        """This config with every ``None`` replaced by the task's default."""
        return replace(
            self,
            steps=self.steps if self.steps is not None else defaults.steps,
            batch_size=self.batch_size if self.batch_size is not None else defaults.batch_size,
            lrs=tuple(self.lrs) if self.lrs is not None else tuple(defaults.lrs),
            hurdle_threshold=(
                self.hurdle_threshold if self.hurdle_threshold is not None else defaults.hurdle_threshold
            ),
        )

    def config_hash(self) -> str:
        """A short hash of everything that can change a reward (not the time limit)."""
        fields = asdict(self)
        fields.pop("time_limit_s")
        text = json.dumps(fields, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @property
    def hurdle_steps(self) -> int:
        assert self.steps is not None
        return max(1, int(round(self.hurdle_fraction * self.steps)))

"""The evaluation protocol: everything that decides a rule's reward, hashed into the cache key."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Optional

from optsearch.dsl import RuleConfig

from .tasks import DEFAULT_TASK, TaskDefaults

FLOOR_REWARD = 0.0

#: The version of the trainer's numerics, part of every cache key: 2 since the loss became
#: invariant to the number of stacked copies (population training); results of version 1
#: differ at the rounding level, so they are not served as version 2's.
TRAINER_VERSION = 2


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
    - ``divergence_factor``: a loss above this multiple of the initial loss ends a rate as
      ``diverged`` (the task's default when ``None``: 100 on data tasks, 10 on functions).
    - ``halving``: successive halving over the learning rates, as ``((fraction, keep), ...)``:
      after ``fraction`` of the steps only the ``keep`` best learning rates (by validation
      accuracy) train on. ``()`` trains every rate to the end.
    - ``time_limit_s``: wall-clock limit of one evaluation (status ``timeout``; the task's
      calibrated limit when ``None``). It does not enter the cache key: it changes whether a
      result is obtained, not what it is (and a timeout is never served from the cache).
    - ``population_size``: how many rules one worker trains together as one stacked child
      (:func:`~.training.train_population`); ``None`` lets the evaluator choose from the device
      (:func:`~.populations.default_population_size`), ``1`` trains one rule at a time. Not in
      the cache key: a rule's result is the same alone or in a population.
    - ``device``: where children train, ``"cpu"`` or ``"cuda[:N]"`` (``None``: CUDA when this
      machine has it). In the cache key unless it is the CPU (a GPU's kernels round differently).
    """

    task: str = DEFAULT_TASK
    steps: Optional[int] = None
    batch_size: Optional[int] = None
    lrs: Optional[tuple[float, ...]] = None
    halving: Optional[tuple[tuple[float, int], ...]] = None
    screen: bool = True
    hurdle: bool = True
    hurdle_fraction: float = 0.1
    hurdle_threshold: Optional[float] = None
    divergence_factor: Optional[float] = None
    time_limit_s: Optional[float] = None
    rule_config: RuleConfig = field(default_factory=RuleConfig)
    population_size: Optional[int] = None
    device: Optional[str] = None

    def with_task_defaults(self, defaults: "TaskDefaults") -> "EvalConfig":
        """This config with every ``None`` replaced by the task's default."""
        return replace(
            self,
            steps=self.steps if self.steps is not None else defaults.steps,
            batch_size=self.batch_size if self.batch_size is not None else defaults.batch_size,
            lrs=tuple(self.lrs) if self.lrs is not None else tuple(defaults.lrs),
            halving=_rungs(self.halving if self.halving is not None else defaults.halving),
            hurdle_threshold=(
                self.hurdle_threshold if self.hurdle_threshold is not None else defaults.hurdle_threshold
            ),
            time_limit_s=self.time_limit_s if self.time_limit_s is not None else defaults.time_limit_s,
            divergence_factor=(
                self.divergence_factor if self.divergence_factor is not None else defaults.divergence_factor
            ),
        )

    def config_hash(self) -> str:
        """A short hash of everything that can change a reward (not the time limit, nor the
        population size; the device only when it is not the CPU; the trainer's version)."""
        fields = asdict(self)
        for name in ("time_limit_s", "population_size"):
            fields.pop(name)
        if fields["device"] in (None, "cpu"):
            fields.pop("device")
        fields["trainer"] = TRAINER_VERSION
        text = json.dumps(fields, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @property
    def hurdle_steps(self) -> int:
        assert self.steps is not None
        return max(1, int(round(self.hurdle_fraction * self.steps)))

    @property
    def halving_steps(self) -> tuple[tuple[int, int], ...]:
        """The rungs in optimizer steps: ``((step, keep), ...)``."""
        assert self.steps is not None and self.halving is not None
        return tuple((max(1, int(round(fraction * self.steps))), keep) for fraction, keep in self.halving)

    @property
    def full_copy_steps(self) -> int:
        """Copy-steps of one full evaluation: every rate to the first rung, the kept ones on."""
        assert self.steps is not None and self.lrs is not None
        alive, done, total = len(self.lrs), 0, 0
        for step, keep in sorted(self.halving_steps):
            if step < self.steps:
                total += alive * (step - done)
                alive, done = min(alive, keep), step
        return total + alive * (self.steps - done)


def _rungs(halving) -> tuple[tuple[float, int], ...]:
    """Validated, sorted halving rungs: fractions in (0, 1), at least one rate kept."""
    rungs = tuple(sorted((float(fraction), int(keep)) for fraction, keep in halving))
    for fraction, keep in rungs:
        if not 0.0 < fraction < 1.0 or keep < 1:
            raise ValueError(f"a halving rung needs 0 < fraction < 1 and keep >= 1, got ({fraction}, {keep})")
    return rungs

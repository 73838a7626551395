"""The training protocol: one record of how a rule trains, which the trainer receives whole.

:class:`TrainingProtocol` holds every setting of one training, resolved (no ``None`` left): the
learning-rate grid, the steps, the batch size, the time limit, the divergence factor, the early
hurdle, the successive-halving rungs and the rule's hyper-parameters. It is built once — from the
evaluator's config (:meth:`~optsearch.evaluation.config.EvalConfig.training_protocol`) or from
keyword settings over a task's defaults (:meth:`TrainingProtocol.for_task`, what
``train_rule(..., lrs=..., steps=...)`` does) — and passed as it is to
:func:`~.stacked.train_rules`.

A new training setting is a field here, with its default; the keyword API takes it at once. The
evaluator passes the :class:`~optsearch.evaluation.config.EvalConfig` field of the same name
when it has one (``None``: the default here), and the task's
:class:`~optsearch.evaluation.tasks.TaskDefaults` field of the same name fills it in when the task
has one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, Optional

from optsearch.dsl.rule_config import RuleConfig

from ..tasks import TaskDefaults
from .loop import DIVERGENCE_FACTOR

__all__ = ["TrainingProtocol", "rungs_in_steps"]

#: Fields named alike here and in :class:`TaskDefaults` that differ in unit: the task gives the
#: halving rungs as fractions of the steps, the protocol as steps.
_IN_OTHER_UNITS = frozenset({"halving"})


def rungs_in_steps(halving: Any, steps: int) -> tuple[tuple[int, int], ...]:
    """Successive-halving rungs given as fractions of the steps, ``((fraction, keep), ...)``, in
    optimizer steps: ``((max(1, round(fraction · steps)), keep), ...)``."""
    return tuple((max(1, int(round(fraction * steps))), keep) for fraction, keep in halving)


@dataclass(frozen=True)
class TrainingProtocol:
    """How one rule trains at every learning rate of its grid (see :mod:`.stacked` for the statuses).

    - ``steps``, ``batch_size``, ``lrs``: the budget and the grid (one copy per learning rate);
    - ``time_limit_s``: wall-clock limit of the rule's training (``math.inf``: none);
    - ``divergence_factor``: a loss above this multiple of the initial loss is ``diverged``;
    - ``hurdle``: ``(step, bar)``: after ``step`` updates, when that is fewer than ``steps``, the
      rule stops (status ``hurdle``) unless its best validation accuracy reaches ``bar``;
      ``None``: no hurdle;
    - ``halving``: successive-halving rungs in optimizer steps, ``((step, keep), ...)``; rungs at
      or past ``steps`` are ignored; ``()``: every rate trains to the end;
    - ``rule_config``: the hyper-parameters of the rule's operands (``RuleConfig()``).

    The numbers are normalised on construction (floats, ints, tuples), as the trainer uses them.
    """

    steps: int
    batch_size: int
    lrs: tuple[float, ...]
    time_limit_s: float = math.inf
    divergence_factor: float = DIVERGENCE_FACTOR
    hurdle: Optional[tuple[int, float]] = None
    halving: tuple[tuple[int, int], ...] = ()
    rule_config: RuleConfig = field(default_factory=RuleConfig)

    def __post_init__(self) -> None:
        normal = {
            "lrs": tuple(float(lr) for lr in self.lrs),
            "steps": int(self.steps),
            "batch_size": int(self.batch_size),
            "time_limit_s": float(self.time_limit_s),
            "divergence_factor": float(self.divergence_factor),
            "hurdle": None if self.hurdle is None else (int(self.hurdle[0]), float(self.hurdle[1])),
            "halving": tuple((int(step), int(keep)) for step, keep in self.halving),
            "rule_config": RuleConfig() if self.rule_config is None else self.rule_config,
        }
        for name, value in normal.items():
            object.__setattr__(self, name, value)
        if not self.lrs:
            raise ValueError("lrs must not be empty")
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError("steps and batch_size must be >= 1")
        if self.divergence_factor <= 1.0:
            raise ValueError("divergence_factor must be > 1")

    @classmethod
    def for_task(cls, defaults: TaskDefaults, **settings: Any) -> "TrainingProtocol":
        """The protocol of ``settings`` (field names; ``None``: not given) over a task's ``defaults``.

        A setting not given takes the task's default where :class:`TaskDefaults` has it (the
        halving rungs converted from fractions of the steps), else the field's default here: no
        hurdle, ``RuleConfig()``. An unknown name is a ``TypeError``.
        """
        names = [f.name for f in fields(cls)]
        unknown = [name for name in settings if name not in names]
        if unknown:
            raise TypeError(f"unknown training setting {unknown[0]!r}; the settings are {', '.join(names)}")
        given = {name: value for name, value in settings.items() if value is not None}
        task_has = {f.name for f in fields(defaults)} - _IN_OTHER_UNITS
        for name in names:
            if name in task_has and name not in given:
                given[name] = getattr(defaults, name)
        if "halving" not in given:  # the task's rungs, given as fractions of the steps
            steps = int(given["steps"])
            given["halving"] = rungs_in_steps(defaults.halving, steps)
        return cls(**given)

    @property
    def hurdle_at(self) -> int:
        """The step of the hurdle; 0 for none (also when it would come at or after the last step)."""
        if self.hurdle is None or not 0 < self.hurdle[0] < self.steps:
            return 0
        return self.hurdle[0]

    @property
    def hurdle_bar(self) -> float:
        """The validation accuracy the hurdle asks for (0.0 without a hurdle)."""
        return 0.0 if self.hurdle is None else self.hurdle[1]

    @property
    def rungs(self) -> dict[int, int]:
        """The halving rungs the loop applies: ``{step: keep}`` for the rungs before the last step."""
        return {step: keep for step, keep in self.halving if 0 < step < self.steps and keep >= 1}

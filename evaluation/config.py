"""The evaluation protocol: everything that decides a rule's reward, hashed into the cache key."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Optional

from optsearch.dsl import RuleConfig

from .tasks import DEFAULT_TASK, TaskDefaults
from .training.protocol import TrainingProtocol, rungs_in_steps

FLOOR_REWARD = 0.0

#: The version of the trainer's numerics, part of every cache key: 2 since the loss became
#: invariant to the number of stacked copies (population training); results of version 1
#: differ at the rounding level, so they are not served as version 2's.
TRAINER_VERSION = 2


#: The settings every hash has covered since the first stores were written. A setting added after
#: them is left out of the hash while it has its default, so that adding one keeps every cache key
#: and the bench table's config (a new setting is one field here, one on the trainer's
#: :class:`~.training.protocol.TrainingProtocol`, and its command-line flag).
_HASHED_ALWAYS = frozenset({
    "task", "steps", "batch_size", "lrs", "halving", "screen", "hurdle", "hurdle_fraction", "hurdle_threshold",
    "divergence_factor", "time_limit_s", "rule_config", "population_size", "device",
})


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
      (:func:`~.training.train_rules`); ``None`` lets the evaluator choose from the device
      (:func:`~.grouping.default_population_size`), ``1`` trains one rule at a time. Not in
      the cache key: a rule's result is the same alone or in a population.
    - ``device``: where children train, ``"cpu"`` or ``"cuda[:N]"`` (``None``: CUDA when this
      machine has it). In the cache key unless it is the CPU (a GPU's kernels round differently).

    The trainer receives the training settings as one record, :meth:`training_protocol`.
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
        """This config with every ``None`` replaced by the task's default (each field of
        :class:`~.tasks.TaskDefaults` is the field of the same name here)."""
        resolved = {f.name: getattr(self, f.name) for f in fields(defaults)}
        resolved = {name: getattr(defaults, name) if value is None else value for name, value in resolved.items()}
        resolved["lrs"], resolved["halving"] = tuple(resolved["lrs"]), _rungs(resolved["halving"])
        return replace(self, **resolved)

    def training_protocol(self, defaults: Optional["TaskDefaults"] = None) -> TrainingProtocol:
        """What the trainer runs for one evaluation under this config, as one record.

        The config must be resolved (:meth:`with_task_defaults`, as the evaluator's is), or
        ``defaults`` given to resolve it. Every field of
        :class:`~.training.protocol.TrainingProtocol` takes this config's field of the same name
        (unless that is absent or ``None``: then the protocol's default), except ``hurdle``
        (``(hurdle_steps, hurdle_threshold)`` when the hurdle is on) and ``halving`` (in steps).
        """
        config = self if defaults is None else self.with_task_defaults(defaults)
        unresolved = [f.name for f in fields(TaskDefaults) if getattr(config, f.name) is None]
        if unresolved:
            raise ValueError(f"the config is not resolved ({', '.join(unresolved)}): give the task's defaults")
        settings = {
            f.name: getattr(config, f.name)
            for f in fields(TrainingProtocol)
            if f.name not in _HELD_OTHERWISE and getattr(config, f.name, None) is not None
        }
        hurdle = (config.hurdle_steps, config.hurdle_threshold) if config.hurdle else None
        return TrainingProtocol(**settings, hurdle=hurdle, halving=config.halving_steps)

    def config_hash(self) -> str:
        """A short hash of everything that can change a reward (not the time limit, nor the
        population size; the device only when it is not the CPU; the trainer's version)."""
        hashed = asdict(self)
        for name in ("time_limit_s", "population_size"):
            hashed.pop(name)
        for item in fields(self):  # a later setting at its default keeps the hashes made before it
            if item.name not in _HASHED_ALWAYS and getattr(self, item.name) == item.default:
                hashed.pop(item.name)
        if hashed["device"] in (None, "cpu"):
            hashed.pop("device")
        hashed["trainer"] = TRAINER_VERSION
        text = json.dumps(hashed, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @property
    def hurdle_steps(self) -> int:
        assert self.steps is not None
        return max(1, int(round(self.hurdle_fraction * self.steps)))

    @property
    def halving_steps(self) -> tuple[tuple[int, int], ...]:
        """The rungs in optimizer steps: ``((step, keep), ...)``."""
        assert self.steps is not None and self.halving is not None
        return rungs_in_steps(self.halving, self.steps)

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


#: Fields of :class:`TrainingProtocol` that this config names alike but holds otherwise: ``hurdle``
#: is on or off here (its step a fraction, ``hurdle_fraction``), ``halving`` in fractions of the steps.
_HELD_OTHERWISE = frozenset({"hurdle", "halving"})


def _rungs(halving) -> tuple[tuple[float, int], ...]:
    """Validated, sorted halving rungs: fractions in (0, 1), at least one rate kept."""
    rungs = tuple(sorted((float(fraction), int(keep)) for fraction, keep in halving))
    for fraction, keep in rungs:
        if not 0.0 < fraction < 1.0 or keep < 1:
            raise ValueError(f"a halving rung needs 0 < fraction < 1 and keep >= 1, got ({fraction}, {keep})")
    return rungs

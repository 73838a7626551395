"""What a transfer trains and for how long (:class:`TransferConfig`), and where (:func:`resolve_device`,
shared with the reward's trainer)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional, Union

from ...tasks import LR_GRID, Task, spec_for
from ...training.loop import DIVERGENCE_FACTOR
from ...training.models import check_model_task, parse_model_name
from ...training.device import resolve_device
from ...training.single import Budget

__all__ = ["DEFAULT_CURVE_POINTS", "MAX_EPOCHS", "TransferConfig", "resolve_device"]

DEFAULT_CURVE_POINTS = 20  # eval_every defaults to steps // this
MAX_EPOCHS = 1e6  # far beyond any real budget; keeps the step count a finite integer


@dataclass(frozen=True)
class TransferConfig:
    """What to train and how long (see :mod:`.trainer` for the protocol).

    ``task``: a task name (or :class:`Task`) with data: ``digits``, ``mnist1d``, ``cifar10``,
    ``arith`` (language modelling).
    ``model``: ``"paper"`` (the search's child), ``"resnet"`` (WRN-16-2) or ``"wrn-D-K"``; on
    sequence tasks also ``"lstm"``, ``"gru"``, ``"transformer"``; on language tasks only
    ``"transformer"`` (a causal language model). A model that does not fit the task's kind is a
    ``ValueError`` here, before any training.
    ``lrs``: the tuning grid. ``tuning_seed``: the seed of every tuning run; ``seeds``: the seeds
    of the final runs. Budget: ``steps`` or ``epochs`` (passes over the training split, rounded
    up to whole steps, at most :data:`MAX_EPOCHS`; at most one of the two; neither = the task's
    default steps), ``batch_size`` (default: the task's), ``eval_every`` (default ``steps // 20``, at least 1).
    ``weight_decay``: L2 coefficient added to the loss (weights only, not biases or batch norm).
    ``augment``: random crops (zero padding of H/8 pixels) and horizontal flips of image
    batches, the usual CIFAR-10 augmentation. ``divergence_factor``: a loss above this multiple of
    the first mini-batch's loss (or above 1e6) ends a run as ``diverged``. ``num_threads``: torch
    intra-op threads during :func:`~.trainer.transfer` (``None``: leave torch's setting).
    """

    task: Union[str, Task]
    model: str = "paper"
    lrs: tuple[float, ...] = LR_GRID
    tuning_seed: int = 0
    seeds: tuple[int, ...] = (1, 2, 3)
    steps: Optional[int] = None
    epochs: Optional[float] = None
    batch_size: Optional[int] = None
    eval_every: Optional[int] = None
    weight_decay: float = 0.0
    augment: bool = False
    divergence_factor: float = DIVERGENCE_FACTOR
    num_threads: Optional[int] = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "lrs", tuple(float(lr) for lr in self.lrs))
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        parse_model_name(self.model)  # raises for an unknown model
        if isinstance(self.task, str):
            _check_task_name(self.task, self.augment)
            check_model_task(self.model, self.task, spec_for(self.task).kind)
        else:
            check_model_task(self.model, self.task.name, self.task.kind)
        if not self.lrs or any(not (lr > 0.0 and math.isfinite(lr)) for lr in self.lrs):
            raise ValueError(f"lrs must be a non-empty sequence of positive numbers, got {self.lrs}")
        if len(set(self.lrs)) != len(self.lrs):
            raise ValueError(f"lrs has duplicates: {self.lrs}")
        if not self.seeds:
            raise ValueError("seeds must not be empty")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds has duplicates: {self.seeds}")
        if self.steps is not None and self.epochs is not None:
            raise ValueError("give steps or epochs, not both")
        if self.steps is not None and int(self.steps) < 1:
            raise ValueError("steps must be >= 1")
        if self.epochs is not None and not 0 < self.epochs <= MAX_EPOCHS:
            raise ValueError(f"epochs must be > 0 and at most {MAX_EPOCHS:.0f}, got {self.epochs}")
        for name in ("batch_size", "eval_every"):
            value = getattr(self, name)
            if value is not None and int(value) < 1:
                raise ValueError(f"{name} must be >= 1")
        if not (self.weight_decay >= 0.0 and math.isfinite(self.weight_decay)):
            raise ValueError(f"weight_decay must be a finite number >= 0, got {self.weight_decay}")
        if not self.divergence_factor > 1.0:
            raise ValueError("divergence_factor must be > 1")

    @property
    def task_name(self) -> str:
        """The task's name, whether ``task`` is a name or a :class:`Task`."""
        return self.task if isinstance(self.task, str) else self.task.name

    def budget(self, task: Task) -> Budget:
        """Steps, batch size and curve spacing of this config on ``task``."""
        if task.train is None:
            raise ValueError(f"task {task.name!r} has no data: transfer needs an image, sequence or language task")
        batch_size = int(self.batch_size if self.batch_size is not None else task.defaults.batch_size)
        if self.steps is not None:
            steps = int(self.steps)
        elif self.epochs is not None:
            steps = max(1, math.ceil(float(self.epochs) * len(task.train) / batch_size))
        else:
            steps = int(task.defaults.steps)
        every = int(self.eval_every) if self.eval_every is not None else max(1, steps // DEFAULT_CURVE_POINTS)
        return Budget(steps=steps, batch_size=batch_size, eval_every=min(every, steps))

    def to_dict(self) -> dict[str, Any]:
        """Every field, the task by name and tuples as lists (for JSON)."""
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["task"] = self.task_name
        data["lrs"], data["seeds"] = list(self.lrs), list(self.seeds)
        return data


def _check_task_name(name: str, augment: bool) -> None:
    """Raise ``ValueError`` unless ``name`` is a task with data (image, sequence or language) that
    ``augment`` can apply to (image tasks only)."""
    kind = spec_for(name).kind
    if kind == "function":
        raise ValueError(f"task {name!r} is a function task: transfer needs an image, sequence or language task")
    if augment and kind != "image":
        raise ValueError(f"augmentation is for image tasks; {name!r} is a {kind} task")

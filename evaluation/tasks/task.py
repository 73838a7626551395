"""The task record: what a loader returns and the trainer reads (data or a function, its budget)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple, Optional

from torch import Tensor

if TYPE_CHECKING:
    from .functions import TestFunction

SPLIT_SEED = 0  # the fixed seed of every data split and generated task (never the evaluation seed)


@dataclass(frozen=True)
class TaskDefaults:
    """The training budget of one evaluation on a task (the trainer's defaults).

    ``hurdle_threshold``: the early hurdle's calibrated bar — after the first tenth of the steps a
    rule whose best validation accuracy (progress score for function tasks) is below it is
    stopped (status ``hurdle``); set well below what every reasonable rule reaches by then.
    ``halving``: successive-halving rungs ``((fraction of steps, rates kept), ...)``;
    ``divergence_factor``: a loss above this multiple of the initial loss is a divergence.
    """

    steps: int
    batch_size: int
    lrs: tuple[float, ...]
    time_limit_s: float
    hurdle_threshold: float = 0.0
    halving: tuple[tuple[float, int], ...] = ()
    divergence_factor: float = 10.0


class DataSplit(NamedTuple):
    """Inputs ``x`` (float32; int64 tokens on a language task) and integer labels ``y`` (int64) of one split."""

    x: Tensor
    y: Tensor

    def __len__(self) -> int:  # type: ignore[override]
        return int(self.y.shape[0])


@dataclass(frozen=True, eq=False)
class Task:
    """One task: data (or a function), its shape and its default training budget.

    ``kind`` is ``"image"`` (``input_shape = (C, H, W)``), ``"sequence"`` (``(C, L)``),
    ``"language"`` (``(T,)``: int64 token windows, labels the next tokens ``[N, T]``,
    ``num_classes`` the vocabulary) or ``"function"`` (``(d,)``, ``function`` set, no data,
    ``num_classes = 0``).
    """

    name: str
    kind: str
    num_classes: int
    input_shape: tuple[int, ...]
    defaults: TaskDefaults
    train: Optional[DataSplit] = None
    val: Optional[DataSplit] = None
    test: Optional[DataSplit] = None
    function: Optional["TestFunction"] = None
    pool: bool = False  # the child max-pools 2×2 before its classifier (CIFAR-10)
    description: str = field(default="", compare=False)

    @property
    def is_function(self) -> bool:
        """True for a test function (no data, no child network)."""
        return self.kind == "function"

    def __repr__(self) -> str:
        sizes = "" if self.train is None else f", sizes={len(self.train)}/{len(self.val)}/{len(self.test)}"  # type: ignore[arg-type]
        return f"Task({self.name!r}, kind={self.kind!r}, input_shape={self.input_shape}{sizes})"

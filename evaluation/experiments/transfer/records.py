"""What a transfer measured: per rule its tuning grid and seed runs (:class:`RuleTransfer`), and
the whole result (:class:`TransferResult`), which :mod:`.render` writes out."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Optional, Sequence

import numpy as np

from ...records import DIVERGED, ERROR, NAN, OK
from ...training.single import Budget, RunRecord
from .cells import json_safe
from .config import TransferConfig

__all__ = ["CSV_COLUMNS", "FAILED", "RuleTransfer", "TransferResult", "worst_status"]

FAILED = (NAN, DIVERGED, ERROR)

#: The columns of ``transfer.csv``: the keys of :meth:`RuleTransfer.row`.
CSV_COLUMNS: tuple[str, ...] = (
    "rule",
    "text",
    "best_lr",
    "val_mean",
    "val_std",
    "test_mean",
    "test_std",
    "seeds",
    "status",
)


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    if not values:
        return math.nan, math.nan
    array = np.asarray(values, dtype=np.float64)
    return float(array.mean()), float(array.std(ddof=1)) if len(array) > 1 else 0.0


def worst_status(statuses: Sequence[str]) -> str:
    """The most telling failure among ``statuses`` (``nan``, then ``diverged``, then ``error``), else ``ok``."""
    for status in FAILED:
        if status in statuses:
            return status
    return OK


@dataclass(frozen=True)
class RuleTransfer:
    """The outcome for one rule: its tuning grid, the chosen learning rate and the seed runs."""

    name: str
    text: str
    baseline: bool
    best_lr: Optional[float]
    grid: tuple[RunRecord, ...]
    runs: tuple[RunRecord, ...]

    @property
    def grid_val(self) -> dict[float, float]:
        """Final validation accuracy of every tuning run by learning rate (NaN where it failed)."""
        return {r.lr: (r.val_acc if r.ok else math.nan) for r in self.grid}

    @property
    def grid_status(self) -> dict[float, str]:
        """The status of every tuning run by learning rate."""
        return {r.lr: r.status for r in self.grid}

    @property
    def status(self) -> str:
        """``ok``; the worst status of the seed runs; or, without any, of the tuning runs."""
        if not self.runs:
            return worst_status([r.status for r in self.grid]) if self.grid else ERROR
        return worst_status([r.status for r in self.runs])

    @property
    def seeds(self) -> int:
        """The number of seed runs."""
        return len(self.runs)

    @property
    def val_mean(self) -> float:
        """Mean final validation accuracy over the seed runs (NaN without any)."""
        return _mean_std([r.val_acc for r in self.runs])[0]

    @property
    def val_std(self) -> float:
        """Sample standard deviation of the final validation accuracy over the seed runs."""
        return _mean_std([r.val_acc for r in self.runs])[1]

    @property
    def test_mean(self) -> float:
        """Mean test accuracy over the seed runs (NaN without any)."""
        return _mean_std([float(r.test_acc or 0.0) for r in self.runs])[0]

    @property
    def test_std(self) -> float:
        """Sample standard deviation of the test accuracy over the seed runs."""
        return _mean_std([float(r.test_acc or 0.0) for r in self.runs])[1]

    def curves(self, what: str = "val") -> Optional[tuple[np.ndarray, np.ndarray]]:
        """``(steps [P], values [seeds, P])`` of the seed runs' curves (``"val"`` or ``"loss"``)."""
        if not self.runs:
            return None
        steps = np.asarray(self.runs[0].curve_steps)
        attr = "curve_val" if what == "val" else "curve_loss"
        return steps, np.asarray([getattr(r, attr) for r in self.runs], dtype=np.float64)

    def row(self) -> dict[str, Any]:
        """The CSV row (see :data:`CSV_COLUMNS`)."""
        return {
            "rule": self.name,
            "text": self.text,
            "best_lr": self.best_lr,
            "val_mean": self.val_mean,
            "val_std": self.val_std,
            "test_mean": self.test_mean,
            "test_std": self.test_std,
            "seeds": self.seeds,
            "status": self.status,
        }


def _rank_key(rule: RuleTransfer) -> tuple[int, float]:
    mean = rule.val_mean
    return (1, 0.0) if math.isnan(mean) else (0, -mean)


@dataclass(frozen=True)
class TransferResult:
    """Everything :func:`~.trainer.transfer` measured; :func:`.render.write` turns it into the report files."""

    config: TransferConfig
    task: str
    budget: Budget
    rules: tuple[RuleTransfer, ...]
    device: str
    parameters: int
    train_size: int
    wall_s: float
    notes: tuple[str, ...] = field(default=())

    def __getitem__(self, name: str) -> RuleTransfer:
        for rule in self.rules:
            if rule.name == name:
                return rule
        raise KeyError(name)

    @property
    def ranked(self) -> tuple[RuleTransfer, ...]:
        """The rules by mean final validation accuracy, best first (rules without seed runs last)."""
        return tuple(sorted(self.rules, key=_rank_key))

    def to_dict(self) -> dict[str, Any]:
        """Everything, including every run's curves, as strict JSON (non-finite numbers: ``None``)."""
        return json_safe(
            {
                "config": self.config.to_dict(),
                "task": self.task,
                "budget": {**asdict(self.budget), "curve_steps": list(self.budget.curve_steps)},
                "device": self.device,
                "parameters": self.parameters,
                "train_size": self.train_size,
                "wall_s": self.wall_s,
                "notes": list(self.notes),
                "rules": [
                    {**rule.row(), "baseline": rule.baseline, "grid": [asdict(r) for r in rule.grid], "runs": [asdict(r) for r in rule.runs]}
                    for rule in self.ranked
                ],
            }
        )

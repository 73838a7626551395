"""Training: the one set of loop pieces and the two trainers built from them.

- :mod:`.loop`: seeds, batches, accuracy and the health policy (NaN / divergence / time) that
  every loop applies, and :class:`RuleFailure`.
- :mod:`.protocol`: :class:`TrainingProtocol`, every setting of one training in one record
  (grid, steps, batch size, limits, hurdle, halving), what the trainers below receive.
- :mod:`.stacked`: :func:`train_rule`, the reward — K copies of the child (or K points of a test
  function) trained at once, one per learning rate — and :func:`train_rules`, R rules × K
  rates as one stack (the loop itself is :mod:`.stack_loop`); :func:`descend` runs the same loop on a test
  function from any start (the Rosenbrock figure). :mod:`.problems` holds what it trains.
- :mod:`.single`: :func:`~.single.train_run`, one ordinary network at one learning rate (the
  transfer protocol's run).
- :mod:`.child` / :mod:`.models`: the child network (plain and stacked) and the transfer networks.

Importing this package loads the reward's trainer only (what workers preload); the transfer
trainer and networks load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from .loop import DIVERGENCE_FACTOR, LOSS_CAP, RuleFailure, torch_threads
from .protocol import TrainingProtocol
from .stacked import descend, train_population, train_rule, train_rules

__all__ = [
    "DIVERGENCE_FACTOR",
    "LOSS_CAP",
    "Budget",
    "RuleFailure",
    "RunRecord",
    "TrainingProtocol",
    "build_model",
    "descend",
    "torch_threads",
    "train_population",  # the old name of train_rules
    "train_rule",
    "train_rules",
    "train_run",
]

_LAZY = {
    "Budget": ".single",
    "RunRecord": ".single",
    "train_run": ".single",
    "build_model": ".models",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""Search strategies over the same space of rules, scored by the same evaluator.

Registered names (``optsearch list``): ``random``, ``evolution``, ``reinforce``, ``gp``, Optuna's
``tpe`` and ``nsga2`` (the ``optuna`` extra; :mod:`.optuna_search`) (ask/tell, run by
:func:`run_search`) and the Stable-Baselines3 agents ``ppo``, ``a2c``, ``dqn``,
``maskable-ppo``, ``recurrent-ppo`` (push-style, :mod:`.sb3`). Run any of them with
:func:`run_named_search`. The strategies' modules (and DEAP, SB3) are imported when first used.
Searchers of other packages: entry points in the group ``optsearch.searchers`` or
``module:attribute`` specs, resolved by :func:`resolve_searcher`.
"""

from __future__ import annotations

import importlib
from typing import Any

from .base import Searcher
from .driver import run_search
from .lifecycle import SearchOutcome
from .registry import SearcherEntry, register_searcher, resolve_searcher, run_named_search

_LAZY = {
    "RandomSearch": "random_search",
    "RegularizedEvolution": "evolution",
    "ReinforceSearcher": "reinforce",
    "GPSearcher": "gp",
}


def __getattr__(name: str) -> Any:  # PEP 562: the strategies load when first named
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "GPSearcher",
    "RandomSearch",
    "RegularizedEvolution",
    "ReinforceSearcher",
    "SearchOutcome",
    "Searcher",
    "SearcherEntry",
    "register_searcher",
    "resolve_searcher",
    "run_named_search",
    "run_search",
]

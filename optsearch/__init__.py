"""optsearch: discover neural-network optimizers by search, and compare search strategies fairly.

Reproduces *Neural Optimizer Search with Reinforcement Learning* (Bello, Zoph, Vasudevan, Le,
ICML 2017). The language of update rules lives in :mod:`optsearch.dsl`, the reward in
:mod:`optsearch.evaluation`, the Gymnasium environment in :mod:`optsearch.envs` (its id
``optsearch/OptimizerSearch-v0`` is registered with Gymnasium as soon as both are imported) and
the strategies in :mod:`optsearch.searchers`.

The names below load on first use (PEP 562), so ``import optsearch`` costs little more than
``import torch`` and pulls in neither Stable-Baselines3, Ray, matplotlib, scikit-learn nor SciPy.
"""

from __future__ import annotations

import importlib
from typing import Any

# Installs the hook that registers the Gymnasium id once Gymnasium is imported (no Gymnasium, no torch).
from optsearch.envs import ENV_ID

__version__ = "0.3.0"

_EXPORTS = {
    "DSLOptimizer": "optsearch.dsl",
    "NAMED_RULES": "optsearch.dsl",
    "ParseError": "optsearch.dsl",
    "canonical": "optsearch.dsl",
    "fingerprint": "optsearch.dsl",
    "from_tokens": "optsearch.dsl",
    "parse": "optsearch.dsl",
    "to_latex": "optsearch.dsl",
    "to_tokens": "optsearch.dsl",
    "EvalConfig": "optsearch.evaluation.config",
    "EvalResult": "optsearch.evaluation.records",
    "Evaluator": "optsearch.evaluation.evaluator",
    "InMemoryStore": "optsearch.evaluation.store",
    "ResultStore": "optsearch.evaluation.store",
    "Store": "optsearch.evaluation.store",
    "Searcher": "optsearch.searchers.base",
    "register_searcher": "optsearch.searchers.registry",
    "run_named_search": "optsearch.searchers.registry",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'optsearch' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = sorted(["ENV_ID", "__version__", *_EXPORTS])

"""The Gymnasium adapter: optimizer discovery as an environment whose actions are DSL tokens.

The id ``optsearch/OptimizerSearch-v0`` is registered with Gymnasium (the version is bumped
whenever the grammar or the reward changes) as soon as Gymnasium is imported: importing this
package (which ``import optsearch`` does) imports neither Gymnasium nor torch; it registers the
id at once if Gymnasium is loaded, else installs the hook of :mod:`._gymnasium_hook`, and
``OptimizerSearchEnv`` and ``RuleSpace`` load on first use (PEP 562). Without importing anything
first, Gymnasium's ``"module:id"`` form names this package:
``gymnasium.make("optsearch.envs:optsearch/OptimizerSearch-v0")``. The env is a thin shell over
the pure dynamics of :class:`RuleSpace`; nothing here imports Stable-Baselines3 (its batched
vector env lives in :mod:`optsearch.searchers.sb3`).
"""

from __future__ import annotations

import importlib
from typing import Any

from ._gymnasium_hook import ENV_ID, install, register_env

_EXPORTS = {"OptimizerSearchEnv": ".optimizer_search_env", "RuleSpace": ".dynamics"}

install()  # registers the id now if Gymnasium is loaded, else right after it is


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = ["ENV_ID", "OptimizerSearchEnv", "RuleSpace", "register_env"]

"""The Gymnasium adapter: optimizer discovery as an environment whose actions are DSL tokens.

The id ``optsearch/OptimizerSearch-v0`` is registered with Gymnasium (the version is bumped
whenever the grammar or the reward changes). The env is a thin shell over the pure dynamics of
:class:`RuleSpace`; nothing here imports Stable-Baselines3 (its batched vector env lives in
:mod:`optsearch.searchers.sb3`).
"""

from optsearch._gymnasium_hook import ENV_ID, register_env

from .dynamics import RuleSpace
from .optimizer_search_env import OptimizerSearchEnv

register_env()

__all__ = ["ENV_ID", "OptimizerSearchEnv", "RuleSpace"]

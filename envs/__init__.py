"""The Gymnasium adapter: optimizer discovery as an environment whose actions are DSL tokens.

Importing this package registers ``optsearch/OptimizerSearch-v0`` (the version is bumped whenever
the grammar or the reward changes).
"""

import gymnasium

from .dynamics import RuleSpace
from .optimizer_search_env import OptimizerSearchEnv

ENV_ID = "optsearch/OptimizerSearch-v0"

if ENV_ID not in gymnasium.registry:
    gymnasium.register(id=ENV_ID, entry_point="optsearch.envs.optimizer_search_env:OptimizerSearchEnv")

__all__ = ["ENV_ID", "OptimizerSearchEnv", "RuleSpace"]

"""optsearch: discover neural-network optimizers by search, and compare search strategies fairly.

Reproduces *Neural Optimizer Search with Reinforcement Learning* (Bello, Zoph, Vasudevan, Le,
ICML 2017). The language of update rules lives in :mod:`optsearch.dsl`, the reward in
:mod:`optsearch.evaluation`, the Gymnasium environment in :mod:`optsearch.envs` (importing
``optsearch`` registers ``optsearch/OptimizerSearch-v0``) and the strategies in
:mod:`optsearch.searchers`.
"""

from optsearch.dsl import (
    NAMED_RULES,
    DSLOptimizer,
    ParseError,
    canonical,
    fingerprint,
    from_tokens,
    parse,
    to_latex,
    to_tokens,
)

from optsearch.envs import ENV_ID  # registers optsearch/OptimizerSearch-v0 with Gymnasium
from optsearch.evaluation import EvalConfig, EvalResult, Evaluator, ResultStore
from optsearch.searchers import Searcher, register_searcher, run_named_search

__version__ = "0.1.0"

__all__ = [
    "DSLOptimizer",
    "ENV_ID",
    "EvalConfig",
    "EvalResult",
    "Evaluator",
    "ResultStore",
    "Searcher",
    "NAMED_RULES",
    "ParseError",
    "__version__",
    "canonical",
    "fingerprint",
    "from_tokens",
    "parse",
    "register_searcher",
    "run_named_search",
    "to_latex",
    "to_tokens",
]

"""optsearch: discover neural-network optimizers by search, and compare search strategies fairly.

Reproduces *Neural Optimizer Search with Reinforcement Learning* (Bello, Zoph, Vasudevan, Le,
ICML 2017). The language of update rules lives in :mod:`optsearch.dsl`.
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

__version__ = "0.1.0"

__all__ = [
    "DSLOptimizer",
    "NAMED_RULES",
    "ParseError",
    "__version__",
    "canonical",
    "fingerprint",
    "from_tokens",
    "parse",
    "to_latex",
    "to_tokens",
]

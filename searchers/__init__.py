"""Search strategies over the same space of rules, scored by the same evaluator.

Registered names (``optsearch list``): ``random``, ``evolution`` (and the others as they are
imported). Run any of them with :func:`run_named_search`.
"""

from .base import Searcher
from .driver import SearchOutcome, run_search
from .evolution import RegularizedEvolution
from .random_search import RandomSearch
from .registry import SearcherEntry, register_searcher, run_named_search

register_searcher(SearcherEntry("random", "uniform over valid token sequences", factory=RandomSearch))
register_searcher(
    SearcherEntry("evolution", "regularized evolution: tournament, one-token mutation, ageing", factory=RegularizedEvolution)
)

__all__ = [
    "RandomSearch",
    "RegularizedEvolution",
    "SearchOutcome",
    "Searcher",
    "SearcherEntry",
    "register_searcher",
    "run_named_search",
    "run_search",
]

from .reinforce import ReinforceSearcher  # noqa: E402

register_searcher(
    SearcherEntry("reinforce", "the paper's LSTM controller trained with REINFORCE", factory=ReinforceSearcher)
)
__all__.append("ReinforceSearcher")

from .gp import GPSearcher  # noqa: E402

register_searcher(
    SearcherEntry("gp", "DEAP strongly-typed genetic programming over the same primitives", factory=GPSearcher)
)
__all__.append("GPSearcher")

from .sb3_agents import ALGORITHMS as _SB3_ALGORITHMS  # noqa: E402
from .sb3_agents import sb3_runner  # noqa: E402

for _name, (_module, _class, _policy) in _SB3_ALGORITHMS.items():
    register_searcher(SearcherEntry(_name, f"{_module}.{_class} ({_policy}) through the environment", runner=sb3_runner(_name)))

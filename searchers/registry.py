"""Names → search strategies, and one entry point that runs any of them to a budget.

Ask/tell searchers run through :func:`~.driver.run_search`; push-style agents (Stable-Baselines3)
register a runner of their own that drives the environment with ``model.learn`` and stops at the
same budget. Either way the result is a :class:`~.driver.SearchOutcome` and every proposal is in
the evaluator's store.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable, Optional, Union

from optsearch.registry_entries import SEARCHERS

from optsearch.evaluation.interfaces import RewardSource

from .driver import SearchOutcome, run_search


def load_object(target: str) -> Any:
    """The object a ``"package.module:attribute"`` string names (Gymnasium-style entry points)."""
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"{target!r} is not of the form 'module:attribute'")
    return getattr(importlib.import_module(module_name), attribute)


@dataclass(frozen=True)
class SearcherEntry:
    """How to run one registered strategy.

    ``factory(groups=, seed=, **options)`` builds an ask/tell searcher; ``runner(evaluator, *,
    budget, seed, groups, run_id, progress, **options)`` runs a push-style one. Exactly one is set.
    Either may be a ``"module:attribute"`` string, imported only when the searcher is used, so
    registering the built-in searchers imports neither DEAP nor Stable-Baselines3.
    """

    name: str
    description: str
    factory: Union[Callable[..., Any], str, None] = None
    runner: Union[Callable[..., SearchOutcome], str, None] = None

    def load_factory(self) -> Optional[Callable[..., Any]]:
        """The factory, imported if it was given by name."""
        return load_object(self.factory) if isinstance(self.factory, str) else self.factory

    def load_runner(self) -> Optional[Callable[..., SearchOutcome]]:
        """The runner, imported if it was given by name."""
        return load_object(self.runner) if isinstance(self.runner, str) else self.runner


def register_searcher(entry: SearcherEntry) -> SearcherEntry:
    """Add a strategy; a name can be registered once only."""
    if (entry.factory is None) == (entry.runner is None):
        raise ValueError("a searcher entry needs exactly one of factory and runner")
    return SEARCHERS.register(entry.name, entry)


def _register_builtins() -> None:
    from .sb3 import ALGORITHMS, sb3_runner

    builtins = [
        SearcherEntry("random", "uniform over valid token sequences", factory="optsearch.searchers.random_search:RandomSearch"),
        SearcherEntry(
            "evolution",
            "regularized evolution: tournament, one-token mutation, ageing",
            factory="optsearch.searchers.evolution:RegularizedEvolution",
        ),
        SearcherEntry(
            "reinforce", "the paper's LSTM controller trained with REINFORCE", factory="optsearch.searchers.reinforce:ReinforceSearcher"
        ),
        SearcherEntry("gp", "DEAP strongly-typed genetic programming over the same primitives", factory="optsearch.searchers.gp:GPSearcher"),
    ]
    builtins += [
        SearcherEntry(name, f"{module}.{cls} ({policy}) through the environment", runner=sb3_runner(name))
        for name, (module, cls, policy) in ALGORITHMS.items()
    ]
    for entry in builtins:
        if entry.name not in SEARCHERS:
            register_searcher(entry)


def run_named_search(
    name: str,
    evaluator: RewardSource,
    *,
    budget: int,
    seed: int = 0,
    groups: int = 3,
    run_id: Optional[str] = None,
    batch_size: int = 8,
    seed_rules: tuple[str, ...] = (),
    progress: Optional[Callable] = None,
    **options: Any,
) -> SearchOutcome:
    """Run the registered searcher ``name`` until exactly ``budget`` proposals are resolved."""
    entry: SearcherEntry = SEARCHERS[name]
    runner = entry.load_runner()
    if runner is not None:
        return runner(evaluator, budget=budget, seed=seed, groups=groups, run_id=run_id, progress=progress, **options)
    searcher = entry.load_factory()(groups=groups, seed=seed, **options)  # type: ignore[misc]
    return run_search(
        searcher, evaluator, budget=budget, run_id=run_id, batch_size=batch_size, seed_rules=seed_rules, progress=progress
    )


_register_builtins()

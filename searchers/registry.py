"""Names → search strategies, and one entry point that runs any of them to a budget.

Ask/tell searchers run through :func:`~.driver.run_search`; push-style agents (Stable-Baselines3)
register a runner of their own that drives the environment with ``model.learn`` and stops at the
same budget. Either way the result is a :class:`~.driver.SearchOutcome` and every proposal is in
the evaluator's store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

from optsearch.registry_entries import SEARCHERS

from .driver import SearchOutcome, run_search


@dataclass(frozen=True)
class SearcherEntry:
    """How to run one registered strategy.

    ``factory(groups=, seed=, **options)`` builds an ask/tell searcher; ``runner(evaluator, *,
    budget, seed, groups, run_id, progress, **options)`` runs a push-style one. Exactly one is set.
    """

    name: str
    description: str
    factory: Optional[Callable[..., Any]] = None
    runner: Optional[Callable[..., SearchOutcome]] = None


def register_searcher(entry: SearcherEntry) -> SearcherEntry:
    """Add a strategy; a name can be registered once only."""
    if (entry.factory is None) == (entry.runner is None):
        raise ValueError("a searcher entry needs exactly one of factory and runner")
    return SEARCHERS.register(entry.name, entry)


def run_named_search(
    name: str,
    evaluator,
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
    if entry.runner is not None:
        return entry.runner(
            evaluator, budget=budget, seed=seed, groups=groups, run_id=run_id, progress=progress, **options
        )
    searcher = entry.factory(groups=groups, seed=seed, **options)  # type: ignore[misc]
    return run_search(
        searcher, evaluator, budget=budget, run_id=run_id, batch_size=batch_size, seed_rules=seed_rules, progress=progress
    )

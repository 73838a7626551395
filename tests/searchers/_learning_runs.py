"""Searcher runs on the bench for the learning tests, one per process (not collected).

Also two deliberately broken searchers, to show that the learning tests fail when learning is broken:
a REINFORCE that is told the negated rewards (it ascends towards the worst rules) and a GP whose
fitness is minimised.
"""

from __future__ import annotations

import statistics
from dataclasses import replace
from typing import Any, Sequence

from optsearch.evaluation.records import EvalResult
from optsearch.searchers.gp import GPSearcher
from optsearch.searchers.reinforce import ReinforceSearcher


def negated(results: Sequence[EvalResult]) -> list[EvalResult]:
    """``results`` with every reward's sign flipped: the best rule becomes the worst."""
    return [replace(r, reward=-r.reward) for r in results]


class BackwardsReinforce(ReinforceSearcher):
    """REINFORCE with the sign of its update flipped (it learns to propose what scores worst)."""

    def tell(self, exprs: Sequence, results: Sequence[EvalResult]) -> None:
        super().tell(exprs, negated(results))


class MinimisingGP(GPSearcher):
    """GP selecting the individuals of lowest fitness."""

    def tell(self, exprs: Sequence, results: Sequence[EvalResult]) -> None:
        super().tell(exprs, negated(results))


def learning_run(searcher: str, seed: int, budget: int, options: dict[str, Any], groups: int = 2) -> tuple[list[float], float]:
    """The bench's expected search reward of every proposal of one run, and its final incumbent's
    expected test accuracy."""
    import torch

    from optsearch.bench import load_bench
    from optsearch.evaluation import EvalConfig, Evaluator
    from optsearch.evaluation.statistics.incumbents import final_incumbent
    from optsearch.searchers.registry import run_named_search

    torch.set_num_threads(1)
    bench = load_bench("mnist1d")
    with Evaluator(EvalConfig(task="mnist1d-bench"), backend="serial") as evaluator:
        results = list(run_named_search(searcher, evaluator, budget=budget, seed=seed, groups=groups, **options).results)
    expected = [e.reward for e in bench.expected([r.rule for r in results])]
    return expected, bench.expected(final_incumbent(results).rule).test_acc


def second_half_mean(expected: Sequence[float], budget: int) -> float:
    """Mean expected reward of proposals ``budget // 2 … budget - 1``."""
    return statistics.fmean(expected[budget // 2 : budget])

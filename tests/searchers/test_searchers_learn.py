"""Searchers learn: on the bench, every learning searcher ends up proposing better rules than random search.

Each searcher runs on ``mnist1d-bench`` (deterministic per rule and seed, milliseconds a proposal)
with compare's two groups per rule, on :data:`SEEDS`, for its budget. The measure is the mean
*expected* search reward (the bench's noise-free expectation of what the live protocol returns) of
the proposals in the second half of the run, averaged over the seeds, against random search's over
the same proposals. Random search's stays flat near 0.1: most random rules are screened. A searcher
that learns moves to rules that pass the screen and train well; one whose learning is broken does
not (:func:`test_a_searcher_whose_learning_is_broken_fails_the_learning_test`).

Why the proposals and not the final incumbent: at the budgets a unit test affords (a few hundred
proposals, three seeds) the final incumbent's held-out score does not separate any searcher from
random search. Random search's incumbent is often a good rule by luck, and the incumbent of any
run is chosen on one noisy seed. The incumbents' comparison needs the study's 30 seeds
(``docs/rl-vs-gp``). The margins of both measures at the tests' settings, measured beforehand,
are in ``benchmarks/README.md`` (*Learning tests*). The bench's answers are the same on every CPU
(:mod:`optsearch.evaluation.bench.portable`); the searchers' own networks are not, so each bar
leaves room below the smallest margin measured under three CPU kinds' kernels.
"""

from __future__ import annotations

import statistics
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import pytest

from _learning_runs import learning_run, second_half_mean

pytest.importorskip("optuna")
pytest.importorskip("stable_baselines3")

SEEDS = (1, 2, 3)

#: searcher → (budget, options, seeds, bar): the second half's mean expected reward must beat random
#: search's by ``bar``. The bar is half the smallest margin measured under three CPU kinds' kernels
#: (AVX512, AVX2 and DEFAULT; ``benchmarks/README.md``, *Learning tests*), so another machine's
#: rounding in the searchers' own networks cannot fail it. RecurrentPPO's runs are bimodal (a run
#: either takes off or stays near random search, seed by seed and kernel by kernel): it gets 800
#: proposals and four seeds, and a bar of a quarter of its smallest measured margin (0.399), three
#: standard errors of its four-seed mean below it. REINFORCE and the PPOs learn with their default
#: rates too, only later (the study's learning table); the faster rates keep these tests short.
LEARNERS: dict[str, tuple[int, dict, tuple[int, ...], float]] = {
    "reinforce": (400, {"lr": 1e-2}, SEEDS, 0.433 / 2),
    "ppo": (400, {"learning_rate": 3e-3}, SEEDS, 0.228 / 2),
    "recurrent-ppo": (800, {"learning_rate": 3e-3}, SEEDS + (4,), 0.10),
    "gp": (200, {}, SEEDS, 0.520 / 2),
    "evolution": (200, {}, SEEDS, 0.428 / 2),
    "tpe": (200, {}, SEEDS, 0.346 / 2),
}

#: Deliberately broken searchers (``_learning_runs``): the learner each breaks, its budget, options and seeds.
BROKEN: dict[str, tuple[str, int, dict, tuple[int, ...]]] = {
    "BackwardsReinforce": ("reinforce", 400, {"lr": 1e-2}, SEEDS[:1]),
    "MinimisingGP": ("gp", 200, {}, SEEDS[:1]),
}

RANDOM_BUDGET = max([budget for budget, *_ in LEARNERS.values()] + [budget for _, budget, *_ in BROKEN.values()])


@pytest.fixture(scope="module")
def runs() -> dict[str, dict[int, tuple[list[float], float]]]:
    """Every searcher's runs by seed, in two processes."""
    random_seeds = tuple(sorted({seed for *_, seeds, _ in LEARNERS.values() for seed in seeds}))
    jobs = [("random", RANDOM_BUDGET, {}, random_seeds)]
    jobs += [(name, budget, options, seeds) for name, (budget, options, seeds, _) in LEARNERS.items()]
    jobs += [(f"_learning_runs:{name}", budget, options, seeds) for name, (_, budget, options, seeds) in BROKEN.items()]
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
        futures = {
            (name, seed): pool.submit(learning_run, name, seed, budget, options) for name, budget, options, seeds in jobs for seed in seeds
        }
        return {name: {seed: futures[name, seed].result() for seed in seeds} for name, _, _, seeds in jobs}


def margin(runs, name: str, budget: int) -> float:
    """Over ``name``'s seeds, the mean of its second half's mean expected reward minus random search's."""
    seeds = sorted(runs[name])
    mine = statistics.fmean(second_half_mean(runs[name][seed][0], budget) for seed in seeds)
    random = statistics.fmean(second_half_mean(runs["random"][seed][0], budget) for seed in seeds)
    return mine - random


@pytest.mark.slow
@pytest.mark.parametrize("name", list(LEARNERS))
def test_a_learning_searcher_proposes_better_rules_than_random_search(runs, name):
    budget, _, _, bar = LEARNERS[name]
    assert margin(runs, name, budget) >= bar


@pytest.mark.slow
@pytest.mark.parametrize("name", list(BROKEN))
def test_a_searcher_whose_learning_is_broken_fails_the_learning_test(runs, name):
    learner, budget, _, _ = BROKEN[name]
    assert margin(runs, f"_learning_runs:{name}", budget) < LEARNERS[learner][3]

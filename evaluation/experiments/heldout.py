"""Held-out re-evaluation of incumbents (the NAS-Bench protocol).

Every incumbent a run ever had (:func:`~optsearch.evaluation.statistics.incumbents.incumbents`)
is re-trained on a few **held-out seeds**, which is cheap because incumbents change rarely.
Held-out seeds are disjoint from every search seed, training is full (no screen, no hurdle),
and the evaluations go through the same evaluator machinery, cache and store as the search:
a resumed comparison finds them all in the cache. The searchers never see these numbers.

A rule's held-out score on one seed is its **test accuracy** at the learning rate its
validation accuracy chose on that seed: new initialisation, batch order and data the search
never selected on. Its held-out mean is the mean over the held-out seeds.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, Iterable, Optional, Sequence, Union

from optsearch.dsl import Expr, resolve_rule

from ..statistics.incumbents import HeldoutScores

#: Held-out seeds start here: far above any search seed ``optsearch compare`` uses (0, 1, ...).
HELDOUT_SEED_BASE = 1_000_000
DEFAULT_HELDOUT_SEEDS = 3


def heldout_seeds(count: int, search_seeds: Iterable[int]) -> tuple[int, ...]:
    """``count`` held-out seeds, checked to be disjoint from ``search_seeds``."""
    if count < 1:
        raise ValueError(f"need at least one held-out seed, got {count}")
    seeds = tuple(range(HELDOUT_SEED_BASE, HELDOUT_SEED_BASE + count))
    clash = sorted(set(seeds) & set(search_seeds))
    if clash:
        raise ValueError(f"held-out seeds {clash} are also search seeds")
    return seeds


def evaluate_heldout(
    evaluator,
    rules: Sequence[Union[Expr, str]],
    seeds: Sequence[int],
    *,
    progress: Optional[Callable[[int, int], None]] = None,
) -> tuple[HeldoutScores, list[str]]:
    """Train ``rules`` fully on every held-out seed; returns the scores and each rule's fingerprint.

    One evaluator batch per seed, so the workers train the rules in parallel; ``evaluator`` must
    train fully (config from :func:`heldout_config`). Rules sharing a fingerprint train once.
    ``progress(done, total)``: the (rule, seed) pairs evaluated of ``len(rules) * len(seeds)``,
    called at the start and after every seed's batch (presentation only).
    """
    exprs = [resolve_rule(r) if isinstance(r, str) else r for r in rules]
    total = len(exprs) * len(seeds)
    if progress is not None:
        progress(0, total)
    per_seed = []
    for seed in seeds:
        per_seed.append(evaluator.evaluate(exprs, seed=seed, searcher="heldout", run_id="heldout"))
        if progress is not None:
            progress(len(per_seed) * len(exprs), total)
    fingerprints = [result.fingerprint for result in per_seed[0]] if per_seed else []
    scores = {fp: tuple(batch[i].test_acc for batch in per_seed) for i, fp in enumerate(fingerprints)}
    return HeldoutScores(tuple(seeds), scores), fingerprints


def heldout_config(config):
    """The search's evaluation config with full training: no screen, no hurdle."""
    return replace(config, screen=False, hurdle=False)

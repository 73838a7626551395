"""How often does a comparison's verdict name a winner when there is none? Interval and level, measured.

    python benchmarks/verdict_error_rates.py [--searchers 5] [--seeds 20] [--sims 1000]

A comparison's verdict looks at every pair of searchers: with ``k`` searchers, ``k(k−1)/2``
intervals. Each simulated comparison draws every searcher's final held-out scores (one per search
seed) from the **same** distribution, so any separated pair is a false claim. Two distributions:
normal (spread 0.012, as the default run's final scores) and a skewed one (15 % of runs 0.03
lower, as runs that end on a fragile rule are). Per interval of the difference of means and level:

- the share of comparisons with at least one false separation (the family-wise error rate);
- one pair alone: the share of comparisons in which its interval misses 0 (the per-pair error);
- the power when one searcher is truly ahead by ``--gap``: the share of comparisons in which it
  is separated from every other.

Intervals: the percentile bootstrap (2,000 resamples, the verdict's interval before 2026-12-07)
and Welch's t (:func:`optsearch.evaluation.statistics.differences.unpaired_difference` with ``trim=0``; the verdict's
interval is now Yuen's on 10 % trimmed means, chosen by ``benchmarks/sequential_verdicts.py``). Levels:
95 % per pair, and Bonferroni ``1 − 0.05 / pairs`` (the verdict's now).
"""

from __future__ import annotations

import argparse
import itertools
import warnings
from typing import Callable

import numpy as np
from scipy import stats

from optsearch.evaluation.statistics.differences import unpaired_difference

SPREAD = 0.012


def draw(kind: str, rng: np.random.Generator, size: int) -> np.ndarray:
    values = rng.normal(0.84, SPREAD, size)
    if kind == "skewed":
        values[rng.random(size) < 0.15] -= 0.03
    return values


def bootstrap_separates(a: np.ndarray, b: np.ndarray, confidence: float, seed: int) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ci = stats.bootstrap(
            (a, b), lambda x, y, axis=-1: x.mean(axis=axis) - y.mean(axis=axis), n_resamples=2000, vectorized=True,
            paired=False, confidence_level=confidence, method="percentile", rng=np.random.default_rng(seed),
        ).confidence_interval  # fmt: skip
    return ci.low > 0 or ci.high < 0


def welch_separates(a: np.ndarray, b: np.ndarray, confidence: float, seed: int) -> bool:
    return unpaired_difference(a, b, confidence, trim=0.0).separated  # Welch: no trimming


def rates(separates: Callable, confidence: float, args) -> list[str]:
    pairs = list(itertools.combinations(range(args.searchers), 2))
    cells = []
    for kind in ("normal", "skewed"):
        rng = np.random.default_rng(1)
        any_false = one_false = 0
        for s in range(args.sims):
            arms = [draw(kind, rng, args.seeds) for _ in range(args.searchers)]
            found = [separates(arms[i], arms[j], confidence, s) for i, j in pairs]
            any_false += any(found)
            one_false += found[0]
        cells += [f"{any_false / args.sims:.3f}", f"{one_false / args.sims:.3f}"]
    rng = np.random.default_rng(2)
    ahead = 0
    for s in range(args.sims):
        arms = [draw("normal", rng, args.seeds) for _ in range(args.searchers)]
        arms[0] = arms[0] + args.gap
        ahead += all(separates(arms[0], arms[j], confidence, s) for j in range(1, args.searchers))
    return cells + [f"{ahead / args.sims:.3f}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--searchers", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--sims", type=int, default=1000)
    parser.add_argument("--gap", type=float, default=0.015)
    args = parser.parse_args()
    pairs = args.searchers * (args.searchers - 1) // 2
    bonferroni = 1 - 0.05 / pairs
    print(f"{args.searchers} searchers ({pairs} pairs) × {args.seeds} seeds, {args.sims} simulated comparisons each\n")
    print(
        "| interval | level | null normal: any false separation | one pair | null skewed: any false separation | one pair "
        f"| one searcher ahead by {args.gap}: separated from all |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, separates in (("percentile bootstrap", bootstrap_separates), ("Welch t", welch_separates)):
        for level, confidence in (("95 % per pair", 0.95), (f"Bonferroni ({bonferroni:.2%})", bonferroni)):
            print(f"| {name} | {level} | " + " | ".join(rates(separates, confidence, args)) + " |")


if __name__ == "__main__":
    main()

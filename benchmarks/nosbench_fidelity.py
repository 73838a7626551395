"""Fidelity of the bench's surrogate on rules it was not fit on (NAS-Bench-301's checks).

    python benchmarks/nosbench_fidelity.py [--table evaluation/bench/data/mnist1d] [--folds 5]

Over the table's screen-passing rules with at least 3 seeds: K-fold cross-validation by rule
(the surrogate fit on K-1 folds, scored on the rules of the last), and leave-one-source-out
(fit without the rules a builder stage or searcher proposed, scored on them). Prints Kendall τ,
Spearman ρ and MAE of the predicted mean reward against the table's mean, overall and within the
top quartile (by the table's mean), and the noise check: the predicted seed-to-seed spread
against the measured one on held-out rules. Last, the same fidelity among the rules with
``--top-seeds`` (10) seeds or more, the top of the table that the builder's top stage measures,
against their many-seed means, with that subset's noise ceiling and an empirical check of it:
Kendall τ between the means of two disjoint halves of the seeds.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from scipy import stats

from nosbench_surrogate import noise_ceiling  # noqa: E402 - the sibling script (benchmarks/ is on sys.path)

from optsearch.evaluation.bench.model import training_set
from optsearch.evaluation.bench.surrogate import Surrogate
from optsearch.evaluation.bench.table import read_table
from optsearch.evaluation.config import EvalConfig

DEFAULT_TABLE = Path(__file__).resolve().parents[1] / "evaluation" / "bench" / "data" / "mnist1d"


def scores(true: np.ndarray, pred: np.ndarray) -> dict:
    top = true >= np.quantile(true, 0.75)
    return {
        "n": len(true),
        "tau": stats.kendalltau(true, pred).statistic,
        "rho": stats.spearmanr(true, pred).statistic,
        "mae": float(np.mean(np.abs(true - pred))),
        "top_tau": stats.kendalltau(true[top], pred[top]).statistic if top.sum() > 2 else float("nan"),
    }


def held_out_predictions(data, splits):
    mean = np.full(len(data.fingerprints), np.nan)
    std = np.full(len(data.fingerprints), np.nan)
    for test in splits:
        train = np.setdiff1d(np.arange(len(mean)), test)
        model = Surrogate.fit(data.X[train], data.reward_mean[train], data.test_mean[train], data.seed_std[train])
        m, _, s = model.predict(data.X[test])
        mean[test], std[test] = m, s
    return mean, std


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", default=str(DEFAULT_TABLE))
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--top-seeds", type=int, default=10)
    args = parser.parse_args()
    folder = Path(args.table)
    started = time.perf_counter()
    table = read_table(folder)
    data = training_set(table, EvalConfig().rule_config, folder)
    n = len(data.fingerprints)
    print(f"{n} screen-passing rules on >= 3 seeds ({time.perf_counter() - started:.1f} s to load)")
    order = np.random.default_rng(0).permutation(n)
    folds = [order[k :: args.folds] for k in range(args.folds)]
    mean, std = held_out_predictions(data, folds)
    seeds = np.array([len(table.rows[fp]) for fp in data.fingerprints])
    ceiling = noise_ceiling(data.reward_mean, data.seed_std, seeds)
    print("| split | rules | Kendall τ | Spearman ρ | MAE | τ in top quartile |")
    print("|---|---|---|---|---|---|")
    s = scores(data.reward_mean, mean)
    print(f"| {args.folds}-fold by rule | {s['n']} | {s['tau']:.3f} | {s['rho']:.3f} | {s['mae']:.3f} | {s['top_tau']:.3f} |")
    sources = np.array(data.sources)
    for source in sorted(set(sources)):
        test = np.flatnonzero(sources == source)
        if len(test) < 5 or len(test) == n:
            continue
        m, _ = held_out_predictions(data, [test])
        s = scores(data.reward_mean[test], m[test])
        print(f"| without {source} | {s['n']} | {s['tau']:.3f} | {s['rho']:.3f} | {s['mae']:.3f} | {s['top_tau']:.3f} |")
    print(
        f"| noise ceiling (a perfect surrogate against these means) | {n} | {ceiling['tau']:.3f} | {ceiling['rho']:.3f} | "
        f"{ceiling['mae']:.3f} | {ceiling['tau_top']:.3f} |"
    )
    print()
    measured = data.seed_std
    print(
        f"noise: measured seed-to-seed std (median over held-out rules) {np.median(measured):.4f}, "
        f"predicted {np.median(std):.4f}; Spearman of predicted vs measured std {stats.spearmanr(measured, std).statistic:.3f}"
    )
    five = seeds >= 5
    print(f"\nnoise on the {int(five.sum())} rules with >= 5 live seeds (held-out predictions), by mean reward:")
    print("| rules | mean reward | live seed std (rms) | surrogate's spread (rms) |")
    print("|---|---|---|---|")
    rms = lambda x: float(np.sqrt(np.mean(np.square(x))))  # noqa: E731
    for low, high in ((0.0, 0.5), (0.5, 0.8), (0.8, 1.01)):
        band = five & (data.reward_mean >= low) & (data.reward_mean < high)
        if band.any():
            print(f"| {int(band.sum())} | [{low:.1f}, {min(high, 1.0):.1f}) | {rms(measured[band]):.4f} | {rms(std[band]):.4f} |")
    top_seeds(table, data, mean, seeds, args.top_seeds)


def top_seeds(table, data, predicted: np.ndarray, seeds: np.ndarray, many: int) -> None:
    """Fidelity and noise ceiling among the rules on ``many`` seeds or more (module docstring)."""
    chosen = np.flatnonzero(seeds >= many)
    if len(chosen) < 8:
        print(f"\nfewer than 8 rules on >= {many} seeds: no top-seeds table")
        return
    truth, pred = data.reward_mean[chosen], predicted[chosen]
    ceiling = noise_ceiling(truth, data.seed_std[chosen], seeds[chosen])
    halves = []
    for fp in np.array(data.fingerprints)[chosen]:
        rewards = [table.rows[fp][s].reward for s in sorted(table.rows[fp])][: 2 * (many // 2)]
        halves.append((np.mean(rewards[0::2]), np.mean(rewards[1::2])))
    a, b = np.array(halves).T
    top = truth >= np.quantile(truth, 0.75)
    print(f"\nthe {len(chosen)} rules on >= {many} seeds, against their means (each rule's first {many} or more seeds; "
          "its prediction from the fold that held it out):")
    print("| | rules | Kendall τ | MAE | τ in their top quartile |")
    print("|---|---|---|---|---|")
    s = scores(truth, pred)
    print(f"| surrogate, {len(chosen)} rules held out in the 5-fold split | {s['n']} | {s['tau']:.3f} | {s['mae']:.3f} | {s['top_tau']:.3f} |")
    print(f"| noise ceiling (a perfect surrogate against these means) | {len(chosen)} | {ceiling['tau']:.3f} | {ceiling['mae']:.3f} | {ceiling['tau_top']:.3f} |")
    half = stats.kendalltau(a, b).statistic
    half_top = stats.kendalltau(a[top], b[top]).statistic
    print(f"| two halves of the seeds against each other ({many // 2} seeds each) | {len(chosen)} | {half:.3f} | {np.mean(np.abs(a - b)):.3f} | {half_top:.3f} |")


if __name__ == "__main__":
    main()

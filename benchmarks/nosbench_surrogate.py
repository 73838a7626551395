"""How faithful is the benchmark's surrogate? Held-out fidelity of candidate models on the table.

Run: ``python benchmarks/nosbench_surrogate.py [--store /work/bench-build/mnist1d.sqlite]
[--cache /tmp/nosbench-features.npz] [--models hgb,knn5,...] [--min-seeds 3]``

Reads the store read-only, keeps the screen-passing rules (any stored status but ``screened``,
``error`` and ``timeout``) with at least ``--min-seeds`` table seeds, computes their features
(:mod:`optsearch.evaluation.bench.features`, cached by fingerprint and feature version in
``--cache``) and prints markdown tables:

1. feature timing (ms per rule, median and 90th percentile, one thread);
2. per model: Kendall τ, Spearman ρ and MAE of the mean reward, τ within the top quartile of true
   mean reward, for 5-fold CV over rules and for leave-one-source-out (source = the rule's
   first searcher label, e.g. ``bench-named``, ``bench-random``), and the fit seconds on all rules
   and on ~6,000 rows (the table replicated with jitter);
3. the seed-std models: held-out mean log-likelihood per seed of the seed rewards around the rule's
   own mean under a normal with the predicted std (5-fold CV), against the pooled constant.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from optsearch.dsl import parse
from optsearch.evaluation.bench.features import FEATURE_VERSION, feature_names, rule_features
from optsearch.evaluation.bench.model import stored_features
from optsearch.evaluation.bench.surrogate import REGRESSORS, STD_MODELS, Surrogate, SurrogateConfig
from optsearch.evaluation.store import SQLiteStore

DEFAULT_STORE = "/work/bench-build/mnist1d.sqlite"
NOT_TRAINED = ("screened", "error", "timeout")
TABLE_SEEDS = (0, 1, 2)


@dataclass
class Table:
    """One row per screen-passing rule."""

    rules: list[str]
    fingerprints: list[str]
    sources: list[str]
    seed_rewards: list[np.ndarray]  # every stored seed's reward
    reward_mean: np.ndarray  # over the table seeds present
    test_mean: np.ndarray
    seed_std: np.ndarray  # over every stored seed (ddof = 1)
    n_seeds: np.ndarray


def load_table(path: str, task: str = "mnist1d", min_seeds: int = 3) -> Table:
    store = SQLiteStore(path, create=False)
    rows = store.results(task=task)
    by_rule: dict[str, dict[int, object]] = defaultdict(dict)
    source: dict[str, str] = {}
    text: dict[str, str] = {}
    passing: set[str] = set()
    for row in rows:
        if row.status in ("error", "timeout"):
            continue
        fp = row.fingerprint
        by_rule[fp].setdefault(row.seed, row)  # a cache hit repeats the first result
        text.setdefault(fp, row.rule)
        if row.searcher != "bench-fill":
            source.setdefault(fp, row.searcher)
        if row.status != "screened":
            passing.add(fp)
    keep = [fp for fp in by_rule if fp in passing and sum(s in by_rule[fp] for s in TABLE_SEEDS) >= min_seeds]
    rewards, tests, stds, seeds, counts = [], [], [], [], []
    for fp in keep:
        table = [by_rule[fp][s] for s in TABLE_SEEDS if s in by_rule[fp]]
        every = np.array([r.reward for r in by_rule[fp].values()])
        rewards.append(np.mean([r.reward for r in table]))
        tests.append(np.mean([r.test_acc for r in table]))
        stds.append(float(np.std(every, ddof=1)) if len(every) > 1 else 0.0)
        seeds.append(every)
        counts.append(len(every))
    return Table(
        [text[fp] for fp in keep],
        keep,
        [source.get(fp, "bench-fill") for fp in keep],
        seeds,
        np.array(rewards),
        np.array(tests),
        np.array(stds),
        np.array(counts),
    )


def cached_features(table: Table, cache: Optional[str]) -> tuple[np.ndarray, list[float]]:
    """Features of every rule (from ``cache`` where it has them) and the ms each new one took."""
    known = stored_features(Path(cache) if cache else None)
    timings = []
    rows = []
    for fp, rule in zip(table.fingerprints, table.rules):
        if fp not in known:
            expr = parse(rule)
            start = time.perf_counter()
            known[fp] = rule_features(expr)
            timings.append(1000 * (time.perf_counter() - start))
        rows.append(known[fp])
    if cache:
        fps = sorted(known)
        np.savez(cache, version=FEATURE_VERSION, fingerprints=np.array(fps), X=np.stack([known[f] for f in fps]))
    return np.stack(rows) if rows else np.zeros((0, len(feature_names())), np.float32), timings


# ------------------------------------------------------------------------------------------------
# metrics
# ------------------------------------------------------------------------------------------------
def fidelity(true: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    from scipy.stats import kendalltau, spearmanr

    top = true >= np.quantile(true, 0.75)
    tau_top = kendalltau(true[top], pred[top])[0] if top.sum() >= 3 else float("nan")
    return {
        "tau": float(kendalltau(true, pred)[0]),
        "rho": float(spearmanr(true, pred)[0]),
        "mae": float(np.mean(np.abs(true - pred))),
        "tau_top": float(tau_top),
    }


def noise_ceiling(mean: np.ndarray, seed_std: np.ndarray, n_seeds: np.ndarray, draws: int = 200, seed: int = 0) -> dict[str, float]:
    """The fidelity a *perfect* surrogate would score against these noisy targets.

    Each rule's target is the mean of its few table seeds, so it carries noise of std
    ``s_i / sqrt(n_i)``. Taking the table means as the truth, each draw adds that noise (``s_i``:
    the rule's own seed std shrunk towards the pooled one, as the surrogate's) and scores the
    truth against the noisy copy; the mean over draws is the ceiling (slightly optimistic, since
    the means themselves are noisy and so spread wider than the truth)."""
    rng = np.random.default_rng(seed)
    pooled = float(np.sqrt(np.mean(seed_std**2)))
    s = np.sqrt((seed_std**2 * (n_seeds - 1) + 3 * pooled**2) / (n_seeds - 1 + 3))
    scores = [fidelity(mean + rng.normal(0.0, s / np.sqrt(n_seeds)), mean) for _ in range(draws)]
    return {key: float(np.mean([sc[key] for sc in scores])) for key in scores[0]}


def kfold(n: int, folds: int = 5, seed: int = 0) -> list[np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    return [order[i::folds] for i in range(folds)]


def cross_predict(X, table: Table, config: SurrogateConfig, splits: list[np.ndarray]):
    n = len(table.rules)
    reward = np.zeros(n)
    test = np.zeros(n)
    std = np.zeros(n)
    for held in splits:
        train = np.setdiff1d(np.arange(n), held)
        model = Surrogate.fit(X[train], table.reward_mean[train], table.test_mean[train], table.seed_std[train], config)
        reward[held], test[held], std[held] = model.predict(X[held])
    return reward, test, std


def seed_loglik(table: Table, std: np.ndarray) -> float:
    """Mean log-likelihood per seed of each seed's reward around its rule's mean, normal with
    variance ``std² (n - 1) / n`` (the residual of a seed from the mean of n seeds)."""
    total, count = 0.0, 0
    for rewards, s in zip(table.seed_rewards, std):
        n = len(rewards)
        if n < 2:
            continue
        var = max(float(s) ** 2, 1e-6) * (n - 1) / n
        resid = rewards - rewards.mean()
        total += float(np.sum(-0.5 * np.log(2 * np.pi * var) - resid**2 / (2 * var)))
        count += n
    return total / max(count, 1)


def fit_seconds(X, table: Table, config: SurrogateConfig, rows: int) -> float:
    rng = np.random.default_rng(0)
    reps = int(np.ceil(rows / len(X)))
    Xb = np.tile(X, (reps, 1))[:rows]
    Xb = Xb + rng.normal(0, 0.01, Xb.shape) * (Xb.std(0) + 1e-3)
    yb = np.tile(table.reward_mean, reps)[:rows]
    tb = np.tile(table.test_mean, reps)[:rows]
    sb = np.tile(table.seed_std, reps)[:rows]
    start = time.process_time()
    Surrogate.fit(Xb, yb, tb, sb, config)
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default=DEFAULT_STORE)
    parser.add_argument("--task", default="mnist1d")
    parser.add_argument("--cache", default=None, help="an .npz of features by fingerprint (created or extended)")
    parser.add_argument("--models", default=",".join(REGRESSORS))
    parser.add_argument("--min-seeds", type=int, default=3)
    parser.add_argument("--big-rows", type=int, default=6000, help="rows of the fit-time measurement")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    table = load_table(args.store, args.task, args.min_seeds)
    X, timings = cached_features(table, args.cache)
    n = len(table.rules)
    print(f"store {args.store}: {n} screen-passing rules with >= {args.min_seeds} table seeds; "
          f"{len(feature_names())} features (version {FEATURE_VERSION})")
    print("sources:", {s: table.sources.count(s) for s in sorted(set(table.sources))})
    if timings:
        t = np.array(timings)
        print(f"\nfeature time over {len(t)} new rules: median {np.median(t):.1f} ms, p90 {np.quantile(t, 0.9):.1f} ms, max {t.max():.1f} ms\n")

    ceiling = noise_ceiling(table.reward_mean, table.seed_std, np.minimum(table.n_seeds, len(TABLE_SEEDS)))
    print(f"noise ceiling (a perfect surrogate against these {len(TABLE_SEEDS)}-seed means): τ {ceiling['tau']:.3f}, "
          f"ρ {ceiling['rho']:.3f}, MAE {ceiling['mae']:.3f}, top-25% τ {ceiling['tau_top']:.3f}\n")
    splits = kfold(n)
    source_names = sorted(set(table.sources))
    loso = [np.flatnonzero(np.array(table.sources) == s) for s in source_names]
    loso = [s for s in loso if len(s) >= 5]
    print(f"| model | CV τ | CV ρ | CV MAE | CV top-25% τ | test MAE | LOSO τ | LOSO ρ | LOSO MAE | fit s (n) | fit s ({args.big_rows} rows) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name in args.models.split(","):
        config = SurrogateConfig(reward=name, test="hgb-small", std="const")
        reward, test, _ = cross_predict(X, table, config, splits)
        cv = fidelity(table.reward_mean, reward)
        test_mae = float(np.mean(np.abs(test - table.test_mean)))
        if len(loso) >= 2:
            lr = np.zeros(n)
            held_all = np.concatenate(loso)
            for held in loso:
                train = np.setdiff1d(np.arange(n), held)
                m = Surrogate.fit(X[train], table.reward_mean[train], table.test_mean[train], table.seed_std[train], config)
                lr[held] = m.predict(X[held])[0]
            lo = fidelity(table.reward_mean[held_all], lr[held_all])
        else:
            lo = {"tau": float("nan"), "rho": float("nan"), "mae": float("nan")}
        start = time.process_time()
        Surrogate.fit(X, table.reward_mean, table.test_mean, table.seed_std, config)
        small = time.process_time() - start
        big = fit_seconds(X, table, config, args.big_rows)
        print(f"| {name} | {cv['tau']:.3f} | {cv['rho']:.3f} | {cv['mae']:.3f} | {cv['tau_top']:.3f} | {test_mae:.3f} | "
              f"{lo['tau']:.3f} | {lo['rho']:.3f} | {lo['mae']:.3f} | {small:.2f} | {big:.2f} |", flush=True)

    print(f"\n| std model | held-out log-lik per seed | top-25% log-lik | rms predicted std, top 25% (measured) | fit s ({args.big_rows} rows) |")
    print("|---|---|---|---|---|")
    sub = np.flatnonzero(table.n_seeds >= 3)  # a std needs seeds: single-seed rules would read as 0
    if len(sub) < 10:
        print(f"(only {len(sub)} rules with >= 3 seeds: no std comparison)")
        return
    part = Table(
        [table.rules[i] for i in sub], [table.fingerprints[i] for i in sub], [table.sources[i] for i in sub],
        [table.seed_rewards[i] for i in sub], table.reward_mean[sub], table.test_mean[sub], table.seed_std[sub], table.n_seeds[sub],
    )
    print(f"(over {len(sub)} rules with >= 3 seeds; pooled std {np.sqrt(np.mean(part.seed_std ** 2)):.4f})")
    for std_model in STD_MODELS:
        config = SurrogateConfig(reward="hgb-small", std=std_model)
        _, _, std = cross_predict(X[sub], part, config, kfold(len(sub)))
        ll = seed_loglik(part, std)
        top = np.flatnonzero(part.reward_mean >= np.quantile(part.reward_mean, 0.75))
        top_part = Table(
            [part.rules[i] for i in top], [part.fingerprints[i] for i in top], [part.sources[i] for i in top],
            [part.seed_rewards[i] for i in top], part.reward_mean[top], part.test_mean[top], part.seed_std[top], part.n_seeds[top],
        )
        rms = lambda x: float(np.sqrt(np.mean(x**2)))  # noqa: E731
        big = fit_seconds(X[sub], part, config, args.big_rows)
        print(f"| {std_model} | {ll:.3f} | {seed_loglik(top_part, std[top]):.3f} | {rms(std[top]):.4f} ({rms(part.seed_std[top]):.4f}) | {big:.2f} |", flush=True)


if __name__ == "__main__":
    main()

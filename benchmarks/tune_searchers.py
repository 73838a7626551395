"""Each searcher's hyper-parameters, given the same small tuning budget on the bench.

Every setting of every searcher's grid runs on the same tuning seeds (``--seeds``, from
:data:`TUNE_SEED_BASE`: no seed the RL-versus-GP study reports) for ``--budget`` proposals on
``mnist1d-bench`` with compare's two groups per rule. A run's score is what the study scores: the bench's expected full-training test
accuracy of the run's final incumbent (the rule with the best search reward). The table gives, per
setting, the mean over seeds with a 95 % Student-t interval and the mean of the seeds' scores at
the budget's quarter marks, and how well the searcher learns: the mean expected search reward of
the proposals in the second half of the run (random search stays near 0.1; see
:mod:`optsearch.evaluation.reports.learning`).

    python benchmarks/tune_searchers.py --budget 500 --seeds 4 --processes 2 > tuning.md

The grids vary one setting at a time around the default, the values a practitioner would try
first. The chosen values are in each searcher's docstring; the table is in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any

import numpy as np

from optsearch.evaluation.statistics.racing import t_intervals

#: Tuning seeds: far from the study's search seeds (0-29) and from every held-out seed base.
TUNE_SEED_BASE = 7_000

#: ``(label, searcher, options, run settings)`` per setting; the first of each searcher is its default.
GRIDS: dict[str, list[tuple[str, dict[str, Any], dict[str, Any]]]] = {
    "random": [("default", {}, {})],
    "reinforce": [
        ("default (lr 3e-3, entropy 1e-2, baseline decay 0.9, batch 8)", {}, {}),
        ("lr 1e-3", {"lr": 1e-3}, {}),
        ("lr 1e-2", {"lr": 1e-2}, {}),
        ("entropy 0", {"entropy_weight": 0.0}, {}),
        ("entropy 5e-2", {"entropy_weight": 5e-2}, {}),
        ("baseline decay 0.5", {"baseline_decay": 0.5}, {}),
        ("baseline decay 0.99", {"baseline_decay": 0.99}, {}),
        ("batch 16", {}, {"batch_size": 16}),
    ],
    "gp": [
        ("default (population 20, tournament 3, crossover 0.5, mutation 0.5)", {}, {}),
        ("population 10", {"population_size": 10}, {}),
        ("population 50", {"population_size": 50}, {}),
        ("tournament 5", {"tournament_size": 5}, {}),
        ("crossover 0.8, mutation 0.2", {"crossover_probability": 0.8, "mutation_probability": 0.2}, {}),
        ("crossover 0.2, mutation 0.8", {"crossover_probability": 0.2, "mutation_probability": 0.8}, {}),
    ],
    "evolution": [
        ("default (population 20, sample 5)", {}, {}),
        ("population 10, sample 3", {"population_size": 10, "sample_size": 3}, {}),
        ("population 20, sample 2", {"sample_size": 2}, {}),
        ("population 20, sample 10", {"sample_size": 10}, {}),
        ("population 50, sample 10", {"population_size": 50, "sample_size": 10}, {}),
        ("population 100, sample 25", {"population_size": 100, "sample_size": 25}, {}),
    ],
    "ppo": [
        ("default (lr 3e-4, entropy 1e-2, 4 epochs)", {}, {}),
        ("lr 1e-3", {"learning_rate": 1e-3}, {}),
        ("lr 1e-4", {"learning_rate": 1e-4}, {}),
        ("entropy 0", {"ent_coef": 0.0}, {}),
    ],
    "recurrent-ppo": [
        ("default (lr 3e-4, entropy 1e-2, 4 epochs)", {}, {}),
        ("lr 1e-3", {"learning_rate": 1e-3}, {}),
    ],
    "tpe": [
        ("default (10 startup trials, 24 EI candidates, multivariate)", {}, {}),
        ("50 startup trials", {"n_startup_trials": 50}, {}),
        ("independent (not multivariate)", {"multivariate": False}, {}),
    ],
}


def run_setting(searcher: str, options: dict, settings: dict, seed: int, budget: int, groups: int) -> tuple[list[float], float, float]:
    """The expected test accuracy of the run's incumbent at each quarter of ``budget``, the mean expected
    search reward of the proposals of the run's second half, and seconds."""
    import torch

    from optsearch.evaluation import EvalConfig, Evaluator
    from optsearch.bench import load_bench
    from optsearch.evaluation.statistics.incumbents import final_incumbent
    from optsearch.searchers.registry import run_named_search

    torch.set_num_threads(1)
    bench = load_bench("mnist1d")
    started = time.perf_counter()
    with Evaluator(EvalConfig(task="mnist1d-bench"), backend="serial") as evaluator:
        outcome = run_named_search(searcher, evaluator, budget=budget, seed=seed, groups=groups, **settings, **options)
    seconds = time.perf_counter() - started
    results = list(outcome.results)
    marks = [budget * q // 4 for q in (1, 2, 3, 4)]
    curve = [bench.expected(final_incumbent(results[:mark]).rule).test_acc for mark in marks]
    late = statistics.fmean(e.reward for e in bench.expected([r.rule for r in results[budget // 2 :]]))
    return curve, late, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=500)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--groups", type=int, default=2, help="groups per rule (default 2, as compare's)")
    parser.add_argument("--searchers", default=",".join(GRIDS))
    args = parser.parse_args(argv)
    seeds = range(TUNE_SEED_BASE, TUNE_SEED_BASE + args.seeds)
    jobs = [
        (name, label, options, settings, seed)
        for name in args.searchers.split(",")
        for label, options, settings in GRIDS[name]
        for seed in seeds
    ]
    with ProcessPoolExecutor(args.processes, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(run_setting, name, options, settings, seed, args.budget, args.groups) for name, _, options, settings, seed in jobs]
        outcomes = {}
        for (name, label, _, _, seed), future in zip(jobs, futures):
            outcomes[name, label, seed] = future.result()
            print(f"# {name} | {label} | seed {seed}: {outcomes[name, label, seed][0][-1]:.4f} late {outcomes[name, label, seed][1]:.3f}", file=sys.stderr, flush=True)
    quarters = "/".join(str(args.budget * q // 4) for q in (1, 2, 3))
    print(f"Budget {args.budget} proposals, tuning seeds {seeds.start}-{seeds.stop - 1}; expected test accuracy of the final incumbent.\n")
    print(f"| searcher | setting | final incumbent: mean [95 % CI] | incumbent at {quarters} | second half's proposals: mean expected reward | s per run |")
    print("|---|---|---|---|---|---|")
    for name in args.searchers.split(","):
        best = max(GRIDS[name], key=lambda setting: statistics.fmean(outcomes[name, setting[0], s][0][-1] for s in seeds))[0]
        for label, _, _ in GRIDS[name]:
            runs = [outcomes[name, label, seed] for seed in seeds]
            finals = [curve[-1] for curve, _, _ in runs]
            _, low, high = (float(v[0]) for v in t_intervals(np.asarray([finals]), 0.95))
            early = "/".join(f"{statistics.fmean(curve[q] for curve, _, _ in runs):.3f}" for q in range(3))
            late = statistics.fmean(late for _, late, _ in runs)
            mean = f"{statistics.fmean(finals):.3f} [{low:.3f}, {high:.3f}]"
            mean = f"**{mean}**" if label == best else mean
            seconds = statistics.fmean(s for _, _, s in runs)
            print(f"| {name} | {label} | {mean} | {early} | {late:.3f} | {seconds:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The learning tests' margins, per seed, under this process's CPU kernels.

Runs each learning searcher of ``tests/searchers/test_searchers_learn.py`` (its settings) and random
search on the bench, and prints, per seed, the second half's mean expected reward minus random
search's. Run it under each capability to set the tests' bars (``benchmarks/README.md``)::

    python benchmarks/learning_margins.py --seeds 1 2 3 4 5
    ATEN_CPU_CAPABILITY=default python benchmarks/learning_margins.py --seeds 1 2 3 4 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "searchers"))

from _learning_runs import learning_run, second_half_mean  # noqa: E402

SETTINGS = {
    "reinforce": (400, {"lr": 1e-2}),
    "ppo": (400, {"learning_rate": 3e-3}),
    "recurrent-ppo": (400, {"learning_rate": 3e-3}),
    "gp": (200, {}),
    "evolution": (200, {}),
    "tpe": (200, {}),
}


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--searchers", nargs="+", default=list(SETTINGS))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--budget", type=int, default=None, help="every searcher's budget (default: the test's)")
    args = parser.parse_args()
    if args.budget is not None:
        for name in SETTINGS:
            SETTINGS[name] = (args.budget, SETTINGS[name][1])
    started = time.perf_counter()
    budget_random = max(SETTINGS[name][0] for name in args.searchers)
    with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as pool:
        random_runs = {seed: pool.submit(learning_run, "random", seed, budget_random, {}) for seed in args.seeds}
        runs = {(name, seed): pool.submit(learning_run, name, seed, *SETTINGS[name]) for name in args.searchers for seed in args.seeds}
        random_runs = {seed: f.result()[0] for seed, f in random_runs.items()}
        runs = {key: f.result()[0] for key, f in runs.items()}
    print(f"capability {torch.backends.cpu.get_cpu_capability()}, seeds {args.seeds}, {time.perf_counter() - started:.0f} s")
    print("| searcher | " + " | ".join(f"seed {s}" for s in args.seeds) + " | mean | min |")
    print("|---|" + "---|" * (len(args.seeds) + 2))
    for name in args.searchers:
        budget = SETTINGS[name][0]
        margins = [second_half_mean(runs[name, s], budget) - second_half_mean(random_runs[s], budget) for s in args.seeds]
        cells = " | ".join(f"{m:+.3f}" for m in margins)
        print(f"| {name} | {cells} | {statistics.fmean(margins):+.3f} | {min(margins):+.3f} |")


if __name__ == "__main__":
    main()

"""Which learning-rate grid makes the reward least noisy at about the cost of the decade grid?

For each candidate grid (learning rates, successive-halving rungs) and each rule, train the child
on ``--seeds`` seeds (screen and hurdle off: the trainer alone) and print the seed-to-seed standard
deviation of the reward, its mean, and the wall time of one evaluation relative to the 5-decade
grid, all measured in this one run with the grids interleaved seed by seed (so machine load hits
every grid alike). One thread, as the evaluator's workers use.

    python benchmarks/lr_grid_noise.py --task mnist1d --seeds 6
"""

from __future__ import annotations

import argparse
import statistics
import time

from optsearch.evaluation.tasks import get_task
from optsearch.evaluation.training import train_rule

DECADES = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
HALF_DECADES = tuple(10 ** (e / 2) for e in range(-8, 1))  # 1e-4, 3.16e-4, ..., 1

# name -> (lrs, halving rungs as (fraction of steps, learning rates kept), divergence factor)
GRIDS = {
    "decades": (DECADES, (), 10.0),
    "half-decades": (HALF_DECADES, (), 10.0),
    "half 25%:3": (HALF_DECADES, ((0.25, 3),), 10.0),
    "half 20%:4 50%:2": (HALF_DECADES, ((0.2, 4), (0.5, 2)), 10.0),
    "half 30%:2": (HALF_DECADES, ((0.3, 2),), 10.0),
    "half 15%:3": (HALF_DECADES, ((0.15, 3),), 10.0),
    "half 15%:3 div100": (HALF_DECADES, ((0.15, 3),), 100.0),
    "half 15%:3 div1000": (HALF_DECADES, ((0.15, 3),), 1000.0),
}


def reward(per_lr) -> float:
    healthy = [r.val_acc for r in per_lr if r.status in ("ok", "hurdle")]
    return max(healthy, default=0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="mnist1d")
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--rules", default="adam,rmsprop,sgd")
    parser.add_argument("--grids", default="decades,half 15%:3,half 15%:3 div100,half 15%:3 div1000")
    args = parser.parse_args()
    task = get_task(args.task)
    steps = task.defaults.steps
    grids = [g for g in args.grids.split(",")]
    rules = args.rules.split(",")
    rewards = {(g, r): [] for g in grids for r in rules}
    times = {g: [] for g in grids}
    for seed in range(args.seeds):
        for rule in rules:
            for grid in grids:
                lrs, rungs, divergence_factor = GRIDS[grid]
                halving = tuple((int(round(f * steps)), keep) for f, keep in rungs)
                start = time.perf_counter()
                per_lr = train_rule(
                    rule, task, lrs=lrs, seed=1000 + seed, halving=halving, divergence_factor=divergence_factor,
                    time_limit_s=float("inf"),
                )
                times[grid].append(time.perf_counter() - start)
                rewards[(grid, rule)].append(reward(per_lr))
    base = statistics.fmean(times["decades"]) if "decades" in times else 1.0
    print(f"task {args.task}, {args.seeds} seeds, {steps} steps, 1 thread")
    print(f"{'grid':24s} {'time ratio':>10s}  " + "  ".join(f"{r + ' mean±sd':>18s}" for r in rules))
    for grid in grids:
        cells = [f"{statistics.fmean(rewards[(grid, r)]):.3f} ± {statistics.stdev(rewards[(grid, r)]):.3f}" for r in rules]
        print(f"{grid:24s} {statistics.fmean(times[grid]) / base:10.2f}  " + "  ".join(f"{c:>18s}" for c in cells))


if __name__ == "__main__":
    main()

"""Seconds per proposal on the bench against live, through the ordinary evaluator, in one run.

    python benchmarks/nosbench_speed.py [--searchers random,evolution,gp,reinforce,tpe]
                                              [--bench-budget 500] [--live-budget 40] [--seed 0]

For each searcher, the same search (same searcher, seed and groups) runs twice through
:class:`~optsearch.evaluation.evaluator.Evaluator` on one core (serial backend, one torch
thread), each into a fresh in-memory store: ``--live-budget`` proposals on the live task
``mnist1d`` and ``--bench-budget`` proposals on ``mnist1d-bench``. It prints the seconds per
proposal of each, their ratio, and where the bench's time went (answers from the table, from the
surrogate, screened, cache hits). The bench's one-off start (loading the table, fitting the
surrogate) is timed apart: it is paid once per process, not per proposal.

The last line reads ``bench speedup over live: X.Xx`` (the median over the searchers).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter

import torch


def run(searcher: str, task: str, budget: int, seed: int) -> tuple[float, Counter]:
    from optsearch.evaluation.config import EvalConfig
    from optsearch.evaluation.evaluator import Evaluator
    from optsearch.searchers.registry import run_named_search

    with Evaluator(EvalConfig(task=task), backend="serial") as evaluator:
        started = time.perf_counter()
        outcome = run_named_search(searcher, evaluator, budget=budget, seed=seed, groups=2, run_id=f"speed-{searcher}-{task}", label=searcher)
        seconds = time.perf_counter() - started
    kinds = Counter(
        "cache hit" if r.cached else r.status if r.status == "screened" else r.detail.split(" ")[0] if r.detail.startswith("bench:") else "trained"
        for r in outcome.results
    )
    return seconds / len(outcome.results), kinds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--searchers", default="random,evolution,gp,reinforce,tpe")
    parser.add_argument("--bench-budget", type=int, default=500)
    parser.add_argument("--live-budget", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)

    from optsearch.evaluation.bench.bench import load_bench

    started = time.perf_counter()
    bench = load_bench("mnist1d")
    loaded = time.perf_counter() - started
    bench.surrogate  # noqa: B018 - fit it now, so that its one-off cost is not charged to a searcher
    fitted = time.perf_counter() - started - loaded
    print(f"bench start: table {loaded:.2f} s, surrogate fit {fitted:.2f} s (once per process)\n")
    print("| searcher | live s/proposal | bench ms/proposal | speedup | bench answers |")
    print("|---|---|---|---|---|")
    ratios = []
    for searcher in args.searchers.split(","):
        live, _ = run(searcher, "mnist1d", args.live_budget, args.seed)
        fast, kinds = run(searcher, "mnist1d-bench", args.bench_budget, args.seed)
        ratios.append(live / fast)
        answers = ", ".join(f"{kind} {count}" for kind, count in kinds.most_common())
        print(f"| {searcher} | {live:.3f} | {1000 * fast:.1f} | {live / fast:.0f}x | {answers} |", flush=True)
    print(f"\nbench speedup over live: {statistics.median(ratios):.1f}x")


if __name__ == "__main__":
    main()

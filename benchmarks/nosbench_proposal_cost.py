"""What a proposal costs on the bench, split between the searcher and the bench, cold and warm.

    python benchmarks/nosbench_proposal_cost.py [--searchers random,evolution,gp,reinforce,ppo,tpe,recurrent-ppo]
                                             [--budget 400] [--seed 0]

For each searcher, on one core (serial backend, one torch thread), through the ordinary
evaluator into a fresh in-memory store:

- **cold**: seed ``--seed`` with an empty facts cache (every rule outside the table computed by
  the portable helper: fingerprint, screen, features, prediction; :mod:`optsearch.evaluation.bench.facts`);
- **warm**: the same search again, in a new process's state (nothing in memory, the machine's
  cache on disk): what a re-run or a resumed study costs;
- **next seed**: seed ``--seed + 1`` with the cache the two runs above left: how much a new
  seed of a study still computes.

Each row gives milliseconds per proposal in total, in the searcher itself (``ask``/``tell`` and
the driver: the total minus the evaluator's time) and in the bench (the evaluator), the share of
proposals whose text the helper had to compute, and the live cost of the same proposals: each
trained rule at the mean wall time the table recorded for its status on the builder (2 cores,
one thread per training), each screened rule at the screen's measured time here. The ratio live /
total is the speed-up the goal asks for (≥ 100× for random search, ≥ 30× for every searcher).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import torch


def search(searcher: str, budget: int, seed: int) -> dict:
    import optsearch.evaluation.bench.bench as bench_module
    from optsearch.evaluation.config import EvalConfig
    from optsearch.evaluation.evaluator import Evaluator
    from optsearch.searchers.registry import run_named_search

    class TimedEvaluator(Evaluator):
        spent = 0.0

        def evaluate(self, *args, **kwargs):
            started = time.perf_counter()
            try:
                return super().evaluate(*args, **kwargs)
            finally:
                self.spent += time.perf_counter() - started

    bench_module._LOADED.clear()  # nothing in memory, as in a new process
    bench = bench_module.load_bench("mnist1d")
    bench.facts  # noqa: B018 - the shipped facts are read at load, not charged to the search
    with TimedEvaluator(EvalConfig(task="mnist1d-bench"), backend="serial") as evaluator:
        started = time.perf_counter()
        outcome = run_named_search(searcher, evaluator, budget=budget, seed=seed, groups=2, run_id=f"cost-{searcher}-{seed}")
        total = time.perf_counter() - started
        in_bench = evaluator.spent
    outside = {r.rule for r in outcome.results if r.rule not in bench.table_texts}
    n = len(outcome.results)
    return dict(
        n=n,
        total=total / n,
        bench=in_bench / n,
        searcher=(total - in_bench) / n,
        outside=len(outside) / n,
        results=outcome.results,
    )


def screen_seconds() -> float:
    from optsearch.dsl import parse
    from optsearch.evaluation.screen import screen_rule

    rules = [parse(t) for t in ("g", "adam", "sign(m) * sqrt(ld)", "exp(g) * noise", "rmsprop * drop(g, 0.1)")]
    started = time.perf_counter()
    for rule in rules:
        screen_rule(rule)
    return (time.perf_counter() - started) / len(rules)


def live_seconds(results, screen_s: float) -> float:
    """The live protocol's cost of these proposals (cache hits free), from the table's wall times."""
    costs = [0.0 if r.cached else screen_s if r.status == "screened" else screen_s + r.outcome.wall_s for r in results]
    return statistics.fmean(costs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--searchers", default="random,evolution,gp,reinforce,ppo,tpe,recurrent-ppo")
    parser.add_argument("--budget", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    screen_s = screen_seconds()
    print(f"live screen: {screen_s * 1000:.0f} ms a rule (here, one thread)\n")
    print("| searcher | run | ms/proposal | in searcher | in bench | texts outside the table | live s/proposal | live / bench run |")
    print("|---|---|---|---|---|---|---|---|")
    for searcher in args.searchers.split(","):
        os.environ["OPTSEARCH_CACHE"] = tempfile.mkdtemp(prefix=f"cost-{searcher}-")
        for label, seed in (("cold", args.seed), ("warm", args.seed), ("next seed", args.seed + 1)):
            row = search(searcher, args.budget, seed)
            live = live_seconds(row["results"], screen_s)
            print(
                f"| {searcher} | {label} | {row['total'] * 1000:.2f} | {row['searcher'] * 1000:.2f} | {row['bench'] * 1000:.2f}"
                f" | {row['outside']:.0%} | {live:.2f} | {live / row['total']:.0f}x |",
                flush=True,
            )


if __name__ == "__main__":
    main()

"""What resolving only the cache's misses saves a search on the bench, with the same records.

    python benchmarks/nosbench_lazy_scoring.py [--searchers gp,evolution,reinforce,random] [--budget 1000] [--seed 300]

For a rule outside the table the bench computes, with the portable kernels, its fingerprint (a few
ms), the screen's verdict (~15 ms) and, when it passes, the surrogate's features (~100 ms). Since
2026-12-08 the evaluator asks for the fingerprints first and for the rest only for rules its cache
does not answer (:meth:`~optsearch.evaluation.bench.bench.Bench.keys_many`): a text that computes
what a rule already scored on that seed does (``exp(m) * g`` after ``g * exp(m)``) is a cache hit
and is never screened. *eager* is the earlier protocol (every rule of a batch resolved before the
cache is looked at). Each search runs cold (an empty machine cache, one core, serial backend), on
a seed no table trajectory used; the records of both must be identical (checked here).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import torch


def search(searcher: str, budget: int, seed: int, eager: bool) -> tuple[list[tuple], int, float]:
    import optsearch.evaluation.bench.bench as bench_module
    from optsearch.evaluation.config import EvalConfig
    from optsearch.evaluation.evaluator import Evaluator
    from optsearch.evaluation.rewards import BenchAnswers
    from optsearch.searchers.registry import run_named_search

    os.environ["OPTSEARCH_CACHE"] = tempfile.mkdtemp(prefix="lazy-scoring-")
    lazy_prepare = BenchAnswers.prepare
    if eager:
        BenchAnswers.prepare = lambda self, exprs: self.prepare_scoring(exprs)
    bench_module._LOADED.clear()
    try:
        bench_module.load_bench("mnist1d").facts  # noqa: B018 - the shipped facts are read at load, not charged
        with Evaluator(EvalConfig(task="mnist1d-bench"), backend="serial") as evaluator:
            started = time.perf_counter()
            results = run_named_search(searcher, evaluator, budget=budget, seed=seed, groups=3).results
            wall = time.perf_counter() - started
            resolved = len(evaluator.source.bench._resolved)
    finally:
        BenchAnswers.prepare = lazy_prepare
        bench_module._LOADED.clear()
    return [(r.rule, r.fingerprint, r.status, r.reward, r.test_acc, r.cached) for r in results], resolved, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--searchers", default="gp,evolution,reinforce,random")
    parser.add_argument("--budget", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=300)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| searcher | rules resolved, eager → lazy | ms a proposal, eager → lazy | eager / lazy | records |")
    print("|---|---|---|---|---|")
    for name in args.searchers.split(","):
        eager, eager_resolved, eager_wall = search(name, args.budget, args.seed, eager=True)
        lazy, lazy_resolved, lazy_wall = search(name, args.budget, args.seed, eager=False)
        same = "identical" if eager == lazy else "DIFFERENT"
        print(
            f"| {name} | {eager_resolved} → {lazy_resolved} | {1e3 * eager_wall / args.budget:.1f} → "
            f"{1e3 * lazy_wall / args.budget:.1f} | {eager_wall / lazy_wall:.2f}× | {same} |",
            flush=True,
        )


if __name__ == "__main__":
    main()

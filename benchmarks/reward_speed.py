"""What does one proposal cost? The reward's speed figures, all measured in this one run.

Run: ``python benchmarks/reward_speed.py [--task mnist1d] [--proposals 300] [--skip-flops]``

Prints:

1. ``flops``: the child training's achieved FLOP/s over this machine's conv2d peak (from
   ``child_speed.py``; goal >= 0.60);
2. ``backends``: evaluations per minute of the ``process`` backend (2 workers) over ``serial``
   on the same batch of distinct rules (goal >= 1.8 on 2 cores);
3. ``stream``: ``N`` random 3-group proposals through the full evaluator (cache, screen, hurdle)
   on the task: proposals per full evaluation's worth of compute, N / Σ cost (goal >= 10), with
   the share resolved by each layer;
4. ``screen``: false rejections of the screen — a sample of screened rules is trained fully and
   compared with the median reward of fully trained rules that passed;
5. ``adam``: seconds per evaluation of ``adam`` on the task.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

from optsearch.dsl import from_tokens, random_tokens, resolve_rule
from optsearch.evaluation.config import EvalConfig
from optsearch.evaluation.evaluator import Evaluator
from optsearch.evaluation.tasks import DEFAULT_TASK

BACKEND_RULES = ("adam", "momentum", "sgd", "rmsprop", "powersign", "addsign", "paper-03", "paper-12")


def backend_ratio(task: str) -> None:
    config = EvalConfig(task=task, screen=False, hurdle=False)
    rules = [resolve_rule(name) for name in BACKEND_RULES]
    rates = {}
    for backend in ("serial", "process"):
        with Evaluator(config, backend=backend, workers=2 if backend == "process" else None) as evaluator:
            evaluator.evaluate(rules[:2], seed=99)  # warm-up: worker start-up and imports
            start = time.perf_counter()
            evaluator.evaluate(rules, seed=0)
            rates[backend] = len(rules) / (time.perf_counter() - start) * 60
    print(
        f"backends  process {rates['process']:.1f} / serial {rates['serial']:.1f} evaluations per minute"
        f" = {rates['process'] / rates['serial']:.2f} (goal >= 1.8)"
    )


def stream(task: str, proposals: int) -> list:
    rng = random.Random(0)
    rules = [from_tokens(random_tokens(3, rng)) for _ in range(proposals)]
    with Evaluator(EvalConfig(task=task), backend="process", workers=2) as evaluator:
        start = time.perf_counter()
        results = []
        for begin in range(0, len(rules), 20):
            results += evaluator.evaluate(rules[begin : begin + 20], seed=0, searcher="random")
        wall = time.perf_counter() - start
    cost = sum(r.cost for r in results)
    layers = Counter("cached" if r.cached else r.status for r in results)
    print(
        f"stream    {proposals} random proposals: Σ cost {cost:.1f} full evaluations -> "
        f"{proposals / cost:.1f} proposals per evaluation's compute (goal >= 10); {wall:.0f} s wall"
    )
    print("          resolved as " + ", ".join(f"{k} {v}" for k, v in layers.most_common()))
    return results


def screen_false_rejections(task: str, results: list, sample: int) -> None:
    screened = [r for r in results if r.status == "screened" and not r.cached][:sample]
    passed = [r for r in results if r.status not in ("screened", "error") and not r.cached][:sample]
    full = EvalConfig(task=task, screen=False, hurdle=False)
    with Evaluator(full, backend="process", workers=2) as evaluator:
        screened_full = evaluator.evaluate([resolve_rule(r.rule) for r in screened], seed=0)
        passed_full = evaluator.evaluate([resolve_rule(r.rule) for r in passed], seed=0)
    median = statistics.median(r.reward for r in passed_full)
    beaten = sum(r.reward > median for r in screened_full)
    print(
        f"screen    {len(screened_full)} screened rules trained fully: {beaten} beat the median reward "
        f"{median:.3f} of {len(passed_full)} fully trained rules that passed "
        f"(best screened {max(r.reward for r in screened_full):.3f})"
    )


def adam_seconds(task: str) -> None:
    with Evaluator(EvalConfig(task=task, screen=False, hurdle=False)) as evaluator:
        times = []
        for seed in range(3):
            start = time.perf_counter()
            evaluator.evaluate([resolve_rule("adam")], seed=100 + seed)
            times.append(time.perf_counter() - start)
    print(f"adam      {statistics.median(times):.2f} s per evaluation on {task} (median of 3, serial, 1 thread)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default=DEFAULT_TASK)
    parser.add_argument("--proposals", type=int, default=300)
    parser.add_argument("--screen-sample", type=int, default=20)
    parser.add_argument("--skip-flops", action="store_true")
    args = parser.parse_args()
    if not args.skip_flops:
        sys.path.insert(0, str(Path(__file__).parent))
        from child_speed import measure

        measured = measure(args.task, threads=1, repeats=3, steps_arg=None)
        print(f"flops     child training / conv2d peak = {measured['ratio']:.2f} (goal >= 0.60)")
    backend_ratio(args.task)
    results = stream(args.task, args.proposals)
    screen_false_rejections(args.task, results, args.screen_sample)
    adam_seconds(args.task)


if __name__ == "__main__":
    main()

"""How much faster are rules trained as a population (one stacked child) than one by one?

Run: ``python benchmarks/population_speed.py [--task mnist1d] [--sizes 1 4 8 16] [--rules 16] [--repeats 2]``

Prints, all measured in this one run (best of ``--repeats`` for every timing, the variants
interleaved so a shared machine's load hits them alike):

- **CPU, 1 thread** (the evaluator's workers): evaluations per second of ``--rules`` *different*
  rules (the paper's sixteen rules of its Wide ResNet table, the task's default protocol:
  half-decade grid, successive halving, hurdle) trained in populations of each size, against
  the same rules trained one by one, and the ratio;
- the stacked child's steady-state training FLOP/s at each population size (``adam`` at rates no
  copy diverges on, ``P × K`` copies) against this machine's conv2d peak, as in
  ``child_speed.py``;
- **CUDA**, when available: the same on the GPU, populations of 1, 16, 64, 256 and 1024 rules
  (up to ``--cuda-max``; the paper's rules, then variants of them) against 16 rules one by
  one, with FLOP/s against the GPU's measured conv peak.

Every population's results are checked equal to the one-by-one results before any figure is
printed (the benchmark measures the same work). The last line is exactly
``cpu population-8 speedup: X.XX``.
"""

from __future__ import annotations

import argparse
import math
from typing import Callable

import torch
from child_speed import best_of, conv_peak  # this folder is on sys.path when the script runs

from optsearch.dsl.library import PAPER_TABLE
from optsearch.evaluation.tasks import DEFAULT_TASK, get_task
from optsearch.evaluation.training import torch_threads, train_rules
from optsearch.evaluation.training.child import child_spec


def paper_rules(count: int) -> list[str]:
    """``count`` different rules: the paper's sixteen, then variants of them (decays, scalings)."""
    rules = [result.rule for result in PAPER_TABLE]
    variants = ["{}", "ld * ({})", "cd * ({})", "rd * ({})", "2 * ({})", "sign(m) * ({})", "exp(1e-3 * w) * ({})"]
    out: list[str] = []
    for round_ in range(math.ceil(count / len(rules))):
        pattern = variants[round_ % len(variants)]
        scale = "" if round_ < len(variants) else f"{1 + round_ // len(variants)} * "
        out += [scale + pattern.format(rule) for rule in rules]
    return out[:count]


def compare_sizes(task, rules: list[str], sizes: list[int], device: torch.device, repeats: int, threads, singles: int):
    """Seconds to train ``rules[:singles]`` one by one and ``rules[:s]`` as populations of each size
    ``s`` (CPU: ``rules`` in populations of ``s``); every rule's result is checked equal to alone."""
    last: dict[str, list] = {}
    whole = device.type == "cpu"

    def train(label: str, size: int) -> Callable[[], object]:
        todo = rules if whole or size == 1 else rules[:size]
        todo = rules[:singles] if size == 1 else todo

        def run() -> None:
            results = []
            for start in range(0, len(todo), size):
                results += train_rules(todo[start : start + size], task, seed=0, num_threads=threads, device=device)
            if device.type == "cuda":
                torch.cuda.synchronize()
            last[label] = results

        return run

    fns = {"population-1": train("population-1", 1), **{f"population-{s}": train(f"population-{s}", s) for s in sizes if s > 1}}
    times = best_of(fns, repeats, warm_up=False)
    reference = last["population-1"]
    for label, results in last.items():
        n = min(len(results), len(reference))
        if repr(results[:n]) != repr(reference[:n]):  # repr: NaN losses compare equal
            raise SystemExit(f"{label}: results differ from one-by-one training (the benchmark would compare different work)")
    counts = {s: (len(rules[:singles]) if s == 1 else len(rules) if whole else min(s, len(rules))) for s in sizes}
    return times, counts


def steady_flops(task, sizes: list[int], device: torch.device, repeats: int, threads: int) -> dict[int, float]:
    """Training FLOP/s of the stacked child at ``P × K`` copies (adam at rates none diverges on)."""
    d = task.defaults
    fpe = child_spec(task).flops_per_example()
    lrs = tuple(1e-5 * (1 + i) for i in range(len(d.lrs)))
    steps = min(d.steps, 25)  # the difference of 2S and S steps: the steady state, without set-up

    def train(size: int, n_steps: int) -> Callable[[], object]:
        def run() -> None:
            train_rules(
                ["adam"] * size, task, lrs=lrs, steps=n_steps, halving=(), num_threads=threads, device=device
            )
            if device.type == "cuda":
                torch.cuda.synchronize()

        return run

    fns = {}
    for size in sizes:
        fns[f"short{size}"] = train(size, steps)
        fns[f"long{size}"] = train(size, 2 * steps)
    times = best_of(fns, repeats, warm_up=False)
    return {
        size: steps * 3 * d.batch_size * len(lrs) * size * fpe / max(1e-9, times[f"long{size}"] - times[f"short{size}"])
        for size in sizes
    }


def report(title: str, task, rules, sizes, device, repeats, threads, singles) -> dict[int, float]:
    times, counts = compare_sizes(task, rules, sizes, device, repeats, threads, singles)
    peak_fn, peak_flops = conv_peak(device)
    with torch_threads(threads):
        peak = peak_flops / best_of({"peak": peak_fn}, repeats)["peak"]
    flops = steady_flops(task, sizes, device, repeats, threads)
    base = counts[1] / times["population-1"]
    print(f"{title}: different rules on {task.name}, default protocol, conv peak {peak / 1e9:.1f} GFLOP/s")
    print(f"  {'population':>10s} {'rules':>6s} {'evals/s':>9s} {'speedup':>8s} {'GFLOP/s':>8s} {'of peak':>8s}")
    speedups = {}
    for size in sizes:
        rate = counts[size] / times[f"population-{size}"]
        speedups[size] = rate / base
        print(
            f"  {size:>10d} {counts[size]:>6d} {rate:>9.2f} {rate / base:>7.2f}x {flops[size] / 1e9:>8.1f} {flops[size] / peak:>8.2f}"
        )
    return speedups


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default=DEFAULT_TASK)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--rules", type=int, default=16, help="different rules trained per measurement (CPU)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--cuda-max", type=int, default=1024, help="largest population on CUDA")
    args = parser.parse_args()
    task = get_task(args.task)
    sizes = sorted(set([1] + args.sizes))
    if torch.cuda.is_available():
        cuda_sizes = [s for s in (1, 16, 64, 256, 1024) if s <= args.cuda_max]
        # one by one on the GPU: the first 16 rules; each population size s: the first s rules
        report("cuda", task, paper_rules(max(cuda_sizes)), cuda_sizes, torch.device("cuda"), args.repeats, None, 16)
    rules = paper_rules(args.rules)
    speedups = report("cpu, 1 thread", task, rules, sizes, torch.device("cpu"), args.repeats, 1, len(rules))
    print(f"cpu population-8 speedup: {speedups.get(8, float('nan')):.2f}")


if __name__ == "__main__":
    main()

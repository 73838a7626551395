"""How fast does the child train? FLOP efficiency against this machine's conv peak, and the stacking gain.

Run: ``python benchmarks/bench_child.py [--task digits mnist1d] [--threads 1] [--repeats 3]``

Prints, all measured in this one run (best of ``--repeats`` for every timing, measurements
interleaved, so a shared machine's load hits all of them alike):

- ``peak``: the conv2d peak — forward + backward (input and weight gradients) of a large
  ``conv2d`` (32×128×32×32 input, 128 3×3 filters, channels_last), FLOPs = 3 × 2·N·H·W·Cin·Cout·9;
- ``step``: steady-state training throughput of the stacked child (the default learning-rate grid
  as ``K`` copies): the time of ``train_rule`` for ``2S`` minus ``S`` steps, counting the
  convolution and linear FLOPs of forward + backward (3 × forward) — the figure of merit,
  ``step / peak`` (goal ≥ 0.60);
- ``eval``: one whole default evaluation of ``adam`` (``train_rule`` with the task's defaults, so
  including set-up, the divergence checks and the accuracy passes; copies that diverge leave the
  stack and their FLOPs stop counting), its FLOP/s and seconds;
- ``speedup``: one stacked training of the K learning rates against K one-copy trainings, with a
  grid no copy diverges on (``adam`` at 1e-5 … 1e-3), and with the default grid.
"""

from __future__ import annotations

import argparse
import time
from typing import Callable

import torch
import torch.nn.functional as F

from optsearch.evaluation.tasks import DEFAULT_TASK, get_task
from optsearch.evaluation.training import torch_threads, train_rule
from optsearch.evaluation.training.child import child_spec


def best_of(fns: dict[str, Callable[[], object]], repeats: int, *, warm_up: bool = True) -> dict[str, float]:
    """Best wall time of each function over ``repeats`` interleaved rounds (after one warm-up
    round unless ``warm_up`` is false: then the first round warms up too)."""
    if warm_up:
        for fn in fns.values():
            fn()
    times = {name: float("inf") for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name] = min(times[name], time.perf_counter() - start)
    return times


def conv_peak(device: torch.device = torch.device("cpu")) -> tuple[Callable[[], object], float]:
    """Forward + backward of a large channels_last conv2d: the device's practical conv peak."""
    n, c, hw = (32, 128, 32) if device.type == "cpu" else (256, 256, 64)
    x = torch.randn(n, c, hw, hw, device=device).contiguous(memory_format=torch.channels_last).requires_grad_()
    w = torch.randn(c, c, 3, 3, device=device, requires_grad=True)
    grad = torch.randn(n, c, hw, hw, device=device).contiguous(memory_format=torch.channels_last)

    def run() -> None:
        for _ in range(2):
            F.conv2d(x, w, padding=1).backward(grad)
        if device.type == "cuda":
            torch.cuda.synchronize()

    return run, 2 * 3 * 2 * n * hw * hw * c * c * 9


def measure(task_name: str, threads: int, repeats: int, steps_arg) -> dict[str, float]:
    task = get_task(task_name)
    spec = child_spec(task)
    d = task.defaults
    k = len(d.lrs)
    fpe = spec.flops_per_example()  # forward FLOPs of one copy on one example
    steps = steps_arg or d.steps
    # K rates each (the grid has 9 since the half-decade grid; these tuples once had 5, which
    # left the "K copies" of the figures at 5 and the one-by-one sum short of its rates)
    steady_lrs = tuple(1e-5 * 2 ** (i / 2) for i in range(k))  # up to 1.6e-4: no copy diverges, all K train every step
    quiet_lrs = tuple(1e-5 * 100 ** (i / max(1, k - 1)) for i in range(k))  # 1e-5 … 1e-3
    last: dict[str, tuple] = {}

    def train(label: str, n_steps: int, lrs, halving=()) -> Callable[[], object]:
        """``halving=()`` keeps every copy training (the FLOP counts assume it); ``None``: the task's."""

        def run() -> None:
            last[label] = train_rule("adam", task, lrs=lrs, steps=n_steps, num_threads=threads, halving=halving)

        return run

    peak_fn, peak_flops = conv_peak()
    with torch_threads(threads):
        fns = {
            "peak": peak_fn,
            "short": train("short", steps, steady_lrs),
            "long": train("long", 2 * steps, steady_lrs),
            "eval": train("eval", d.steps, d.lrs, halving=None),
            "stacked": train("stacked", d.steps, quiet_lrs),
            **{f"single{i}": train(f"single{i}", d.steps, (lr,)) for i, lr in enumerate(quiet_lrs)},
            **{f"default{i}": train(f"default{i}", d.steps, (lr,)) for i, lr in enumerate(d.lrs)},
        }
        times = best_of(fns, repeats)

    peak = peak_flops / times["peak"]
    step_flops = 3 * d.batch_size * k * fpe
    steady = steps * step_flops / max(1e-9, times["long"] - times["short"])
    n_eval = len(task.val) + len(task.test)  # type: ignore[arg-type]
    # FLOPs the default evaluation really ran: copies that diverged leave the stack at once
    per_lr = last["eval"]
    eval_flops = sum(r.steps for r in per_lr) * 3 * d.batch_size * fpe + n_eval * fpe * sum(
        r.status == "ok" for r in per_lr
    )
    sequential = sum(times[f"single{i}"] for i in range(k))
    sequential_default = sum(times[f"default{i}"] for i in range(k))
    print(f"task {task_name}: {spec}, K={k} copies, batch {d.batch_size}, {d.steps} steps, {threads} thread(s)")
    print(f"  peak     conv2d fwd+bwd                {peak / 1e9:7.1f} GFLOP/s")
    print(f"  step     stacked training              {steady / 1e9:7.1f} GFLOP/s  ratio to peak {steady / peak:.2f} (goal >= 0.60)")
    print(
        f"  eval     one default adam evaluation   {eval_flops / times['eval'] / 1e9:7.1f} GFLOP/s  "
        f"ratio to peak {eval_flops / times['eval'] / peak:.2f}  {times['eval']:.2f} s "
        f"({[r.status for r in per_lr]})"
    )
    print(
        f"  speedup  stacked vs one by one         {sequential / times['stacked']:7.2f} x  "
        f"({times['stacked']:.2f} s vs {sequential:.2f} s; adam at {quiet_lrs}, no divergence)"
    )
    print(
        f"  speedup  default grid                  {sequential_default / times['eval']:7.2f} x  "
        f"({times['eval']:.2f} s vs {sequential_default:.2f} s; adam at {d.lrs})"
    )
    return {"ratio": steady / peak, "speedup": sequential / times["stacked"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", nargs="+", default=[DEFAULT_TASK], help="digits, mnist1d, cifar10 (several allowed)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=None, help="S of the steady-state measurement")
    args = parser.parse_args()
    for name in args.task:
        measure(name, args.threads, args.repeats, args.steps)


if __name__ == "__main__":
    main()

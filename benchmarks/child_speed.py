"""How fast does the child train? FLOP efficiency against this machine's conv peak, and the stacking gain.

Run: ``python benchmarks/child_speed.py [--task digits mnist1d] [--threads 1] [--repeats 3] [--breakdown]``

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
- ``trainer``: evaluations per second of the default evaluation against the trainer before the
  in-place ReLU (``StackedChild.inplace_relu = False``), same results asserted;
- ``breakdown`` (``--breakdown``): the share of a steady-state step's time in convolution, batch
  norm, ReLU, matrix products, layout copies and the rest (torch.profiler's self times), and the
  second convolution alone as the child runs it (mkldnn, grouped) and as im2col + ``bmm``;
- ``speedup``: one stacked training of the K learning rates against K one-copy trainings, with a
  grid no copy diverges on (``adam`` at 1e-5 … 1e-3), and with the default grid.
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Callable

import torch
import torch.nn.functional as F

from optsearch.evaluation.tasks import DEFAULT_TASK, get_task
from optsearch.evaluation.training import torch_threads, train_rule
from optsearch.evaluation.training.child import StackedChild, child_spec


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


def steady_grid(k: int) -> tuple[float, ...]:
    """``k`` learning rates for ``adam`` from 1e-5 up by half-octaves (1.6e-4 at k = 9): no copy
    diverges, so all ``k`` copies train every step (steady-state FLOP counts assume it)."""
    return tuple(1e-5 * 2 ** (i / 2) for i in range(k))


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
    steady_lrs = steady_grid(k)
    quiet_lrs = tuple(1e-5 * 100 ** (i / max(1, k - 1)) for i in range(k))  # 1e-5 … 1e-3
    last: dict[str, tuple] = {}

    def train(label: str, n_steps: int, lrs, halving=(), inplace_relu: bool = True) -> Callable[[], object]:
        """``halving=()`` keeps every copy training (the FLOP counts assume it); ``None``: the task's.
        ``inplace_relu=False``: the trainer before the in-place ReLU (issue #16), for the ratio."""

        def run() -> None:
            StackedChild.inplace_relu = inplace_relu
            try:
                last[label] = train_rule("adam", task, lrs=lrs, steps=n_steps, num_threads=threads, halving=halving)
            finally:
                StackedChild.inplace_relu = True

        return run

    peak_fn, peak_flops = conv_peak()
    with torch_threads(threads):
        fns = {
            "peak": peak_fn,
            "short": train("short", steps, steady_lrs),
            "long": train("long", 2 * steps, steady_lrs),
            "eval": train("eval", d.steps, d.lrs, halving=None),
            "eval_before": train("eval_before", d.steps, d.lrs, halving=None, inplace_relu=False),
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
    assert last["eval_before"] == last["eval"], "the in-place ReLU changed the numbers"
    print(
        f"  trainer  evaluations/s vs before       {times['eval_before'] / times['eval']:7.2f} x  "
        f"({times['eval']:.2f} s vs {times['eval_before']:.2f} s with the ReLU out of place; same results)"
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


#: The parts of a training step, by the aten operators whose self time they are (the rest: the
#: rule's update, the health checks, autograd and Python).
STEP_PARTS = {
    "convolution (mkldnn, forward + backward)": ("aten::mkldnn_convolution", "aten::convolution_backward"),
    "batch norm (forward + backward)": ("aten::native_batch_norm", "aten::native_batch_norm_backward"),
    "ReLU (forward + backward)": ("aten::clamp_min", "aten::clamp_min_", "aten::threshold_backward"),
    "matrix products (first conv, head)": ("aten::mm", "aten::bmm", "aten::baddbmm"),
    "layout copies": ("aten::copy_",),
}


def breakdown(task_name: str, threads: int, steps: int = 100) -> None:
    """Where a steady-state step of the stacked child (K = the grid, none diverging) spends its
    time: the self CPU time of each part's operators, as a share of the whole (torch.profiler)."""
    from torch.profiler import ProfilerActivity, profile

    task = get_task(task_name)
    k = len(task.defaults.lrs)
    lrs = steady_grid(k)
    run = lambda: train_rule("adam", task, lrs=lrs, steps=steps, num_threads=threads, halving=())  # noqa: E731
    run()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        started = time.perf_counter()
        run()
        wall = time.perf_counter() - started
    self_us = {e.key: e.self_cpu_time_total for e in prof.key_averages()}
    total = sum(self_us.values())
    print(f"  breakdown of a step ({k} copies, {steps} steps, {wall / steps * 1e3:.1f} ms per step under the profiler):")
    named = 0.0
    for part, ops in STEP_PARTS.items():
        share = sum(self_us.get(op, 0.0) for op in ops) / total
        named += share
        print(f"    {part:45s} {share:6.1%}")
    print(f"    {'the rest (update, checks, autograd, Python)':45s} {1 - named:6.1%}")
    # The second convolution is the only mkldnn one (the first is im2col + a matrix product).
    spec, batch = child_spec(task), task.defaults.batch_size
    conv2_flops = 3 * 2 * batch * k * math.prod(spec.spatial) * spec.width * spec.width * 3**spec.dims
    conv_s = sum(self_us.get(op, 0.0) for op in STEP_PARTS["convolution (mkldnn, forward + backward)"]) / 1e6 / steps
    print(f"    the convolution alone runs at {conv2_flops / conv_s / 1e9:.1f} GFLOP/s (profiler-timed)")
    grouped, unfolded = conv_alone(k, batch, spec.width, math.prod(spec.spatial))
    with torch_threads(threads):
        times = best_of({"grouped": grouped, "unfolded": unfolded}, 5)
    for name, label in (("grouped", "mkldnn grouped conv (the child's)"), ("unfolded", "im2col + batched matrix product")):
        print(f"    second convolution alone, {label:34s} {conv2_flops / times[name] / 1e9:6.1f} GFLOP/s")


def conv_alone(k: int, batch: int, width: int, length: int) -> tuple[Callable[[], object], Callable[[], object]]:
    """Forward + backward of the stacked child's second convolution (K groups of ``width`` →
    ``width`` channels, 1×3, channels_last) as the child runs it, and as im2col + ``bmm``."""
    x = torch.randn(batch, k * width, 1, length).contiguous(memory_format=torch.channels_last).requires_grad_()
    w = torch.randn(k * width, width, 1, 3, requires_grad=True)
    g = torch.randn(batch, k * width, 1, length).contiguous(memory_format=torch.channels_last)
    xb = torch.randn(batch, length, k, width, requires_grad=True)  # the same memory order as x
    wb = torch.randn(k, 3 * width, width, requires_grad=True)
    gb = torch.randn(k, batch * length, width)

    def grouped() -> None:
        F.conv2d(x, w, padding=(0, 1), groups=k).backward(g)

    def unfolded() -> None:
        p = F.pad(xb, (0, 0, 0, 0, 1, 1))
        cols = torch.cat([p[:, 0:length], p[:, 1 : length + 1], p[:, 2 : length + 2]], dim=3)
        torch.bmm(cols.permute(2, 0, 1, 3).reshape(k, batch * length, 3 * width), wb).backward(gb)

    return grouped, unfolded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", nargs="+", default=[DEFAULT_TASK], help="digits, mnist1d, cifar10 (several allowed)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=None, help="S of the steady-state measurement")
    parser.add_argument("--breakdown", action="store_true", help="also profile where a step's time goes")
    args = parser.parse_args()
    for name in args.task:
        measure(name, args.threads, args.repeats, args.steps)
        if args.breakdown:
            breakdown(name, args.threads)


if __name__ == "__main__":
    main()

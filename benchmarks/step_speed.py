"""How much a compiled rule costs per step next to hand-written torch code.

    python benchmarks/step_speed.py [--reps 300] [--block 3] [--threads N]

About one million float32 parameters in ten tensors on the CPU, with fixed random gradients. Two
ratios of per-step time, each the median over many interleaved repetitions (the two contenders
alternate, and alternate which goes first, so drifts in machine load hit both alike):

- ``DSLOptimizer("adam")`` / ``torch.optim.Adam(foreach=True)``;
- compiled ``"powersign"`` (``exp(sign(g) * sign(m)) * g``, via ``DSLOptimizer``) / a hand-written
  foreach PowerSign (lerp m, sign of g and of m, multiply, exp, multiply by g, add to the weights).

A third line, not a goal, times the compiled rule alone (``UpdateRule.apply``) against the same
hand-written code, separating the compiler's cost from the Optimizer's per-step bookkeeping.

The goal is a ratio of at most 1.10 for each of the first two. Exit status 0 either way (it is a measurement, not a
test); ``--check`` makes it 1 when a ratio is over the goal.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Callable

import torch

from optsearch.dsl import NAMED_RULES, DSLOptimizer, compile_rule, parse

GOAL = 1.10
SHAPES = [(512, 512), (512,), (512, 512), (512,), (512, 512), (512,), (512, 256), (256,), (256, 64), (64,)]


def make_params(seed: int) -> list[torch.nn.Parameter]:
    generator = torch.Generator().manual_seed(seed)
    params = [torch.nn.Parameter(torch.randn(shape, generator=generator)) for shape in SHAPES]
    for p in params:
        p.grad = torch.randn(p.shape, generator=generator) * 1e-2
    return params


class HandWrittenPowerSign:
    """PowerSign written directly with foreach kernels: the floor for what the compiler can emit."""

    def __init__(self, params: list[torch.Tensor], lr: float, beta: float = 0.9):
        self.params, self.lr, self.beta = params, lr, beta
        self.m = [torch.zeros_like(p) for p in params]

    @torch.no_grad()
    def step(self) -> None:
        grads = [p.grad for p in self.params]
        torch._foreach_lerp_(self.m, grads, 1.0 - self.beta)
        update = torch._foreach_sign(grads)
        torch._foreach_mul_(update, torch._foreach_sign(self.m))
        torch._foreach_exp_(update)
        torch._foreach_mul_(update, grads)
        torch._foreach_add_(self.params, update, alpha=-self.lr)


def timed(step: Callable[[], None], block: int) -> float:
    start = time.perf_counter()
    for _ in range(block):
        step()
    return (time.perf_counter() - start) / block


def compare(name: str, ours: Callable[[], None], theirs: Callable[[], None], reps: int, block: int) -> float:
    for _ in range(5):  # warm up both (allocator, first-call imports)
        ours()
        theirs()
    ours_times, theirs_times, ratios = [], [], []
    for rep in range(reps):
        if rep % 2:
            b = timed(theirs, block)
            a = timed(ours, block)
        else:
            a = timed(ours, block)
            b = timed(theirs, block)
        ours_times.append(a)
        theirs_times.append(b)
        ratios.append(a / b)
    ratio = statistics.median(ours_times) / statistics.median(theirs_times)
    print(
        f"{name:<52s} ours {statistics.median(ours_times) * 1e3:7.3f} ms  "
        f"reference {statistics.median(theirs_times) * 1e3:7.3f} ms  "
        f"ratio {ratio:5.3f}  (median of per-rep ratios {statistics.median(ratios):5.3f})"
    )
    return ratio


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=300, help="interleaved repetitions (default 300)")
    parser.add_argument("--block", type=int, default=3, help="steps timed together in one repetition")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--check", action="store_true", help=f"exit 1 when a ratio exceeds {GOAL}")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    count = sum(p.numel() for p in make_params(0))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {count:,} float32 parameters in {len(SHAPES)} tensors")
    print(f"{args.reps} interleaved repetitions of {args.block} steps each; goal: ratio <= {GOAL:.2f}\n")

    adam_params, torch_params = make_params(0), make_params(0)
    dsl_adam = DSLOptimizer(adam_params, "adam", lr=1e-3)
    torch_adam = torch.optim.Adam(torch_params, lr=1e-3, foreach=True)
    adam_ratio = compare('DSLOptimizer("adam") / torch.optim.Adam(foreach=True)', dsl_adam.step, torch_adam.step, args.reps, args.block)

    sign_params, hand_params = make_params(1), make_params(1)
    dsl_powersign = DSLOptimizer(sign_params, "powersign", lr=1e-3)
    hand_powersign = HandWrittenPowerSign(hand_params, lr=1e-3)
    sign_ratio = compare('DSLOptimizer("powersign") / hand-written foreach', dsl_powersign.step, hand_powersign.step, args.reps, args.block)

    # Not a goal, a diagnosis: the compiled rule alone (UpdateRule.apply, no Optimizer bookkeeping).
    rule_params, rule_hand_params = make_params(1), make_params(1)
    rule = compile_rule(parse(NAMED_RULES["powersign"]))
    rule_buffers = rule.init_buffers(rule_params)
    rule_grads = [p.grad for p in rule_params]
    steps = [0]

    @torch.no_grad()
    def apply_rule() -> None:
        steps[0] += 1
        rule.apply(rule_params, rule_grads, rule_buffers, step=steps[0], lr=1e-3)

    compare('  of which UpdateRule.apply("powersign") / hand-written', apply_rule, HandWrittenPowerSign(rule_hand_params, lr=1e-3).step, args.reps, args.block)

    # The contenders computed the same thing (a benchmark of wrong code would be worthless).
    for ours, theirs in ((adam_params, torch_params), (sign_params, hand_params), (rule_params, rule_hand_params)):
        for p, q in zip(ours, theirs):
            torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)

    print()
    for name, ratio in (("adam", adam_ratio), ("powersign", sign_ratio)):
        verdict = "ok" if ratio <= GOAL else "OVER GOAL"
        print(f"ratio {name:<10s} {ratio:5.3f}  {verdict}")
    return 1 if args.check and max(adam_ratio, sign_ratio) > GOAL else 0


if __name__ == "__main__":
    sys.exit(main())

"""The batched screen: milliseconds per rule of ``screen_rule`` one rule at a time against
``screen_rules`` in stacks of several sizes, and whether every verdict agrees.

The sample is ``--rules`` rules of the shipped mnist1d table, drawn at random (``--seed``), half
of them rules the table records as screened and half rules that passed. Each way of screening
runs over the same rules, block by block (``--block`` rules, the ways in turn within each
block), so load on this shared machine falls on all of them alike. It runs with the portable
kernels (in the bench's helper process, :func:`run_portable`) and with this process's own
(``--where``). Agreement compares every rule's ``passed`` and ``best_score`` with
``screen_rule``'s, per stack size; the table's recorded verdict (computed natively on the
machine that built the table) is shown beside it.

Usage::

    python benchmarks/screen_batch.py                                   # the timing table
    python benchmarks/screen_batch.py --rules 4000 --sizes 32 --where portable   # agreement on many rules
"""

from __future__ import annotations

import argparse
import random
import time


def sample(rules: int, seed: int) -> tuple[list[str], list[bool]]:
    """``rules`` rule texts of the mnist1d table, half screened and half passed, and the table's verdicts."""
    from optsearch.evaluation.bench.bench import load_bench

    bench = load_bench("mnist1d")
    by_verdict: dict[bool, list[str]] = {True: [], False: []}
    for fp in sorted(bench.table.rows):
        by_verdict[bool(bench.screen_verdict(fp))].append(fp)
    rng = random.Random(seed)
    picks = rng.sample(by_verdict[False], rules - rules // 2) + rng.sample(by_verdict[True], rules // 2)
    rng.shuffle(picks)
    texts = [next(iter(bench.table.rows[fp].values())).rule for fp in picks]
    return texts, [bool(bench.screen_verdict(fp)) for fp in picks]


def measure(texts: list[str], sizes: list[int], block: int) -> dict:
    """Seconds and verdicts of ``screen_rule`` (key 0) and of ``screen_rules`` per stack size, with this
    process's kernels; ``capability`` names them."""
    import torch

    from optsearch.dsl import resolve_rule
    from optsearch.evaluation.bench.bench import load_bench
    from optsearch.evaluation.screen import screen_rule, screen_rules

    config = load_bench("mnist1d").rule_config
    exprs = [resolve_rule(t) for t in texts]
    screen_rules(exprs[:2], rule_config=config)  # imports, the task and the kernels' first calls
    seconds = {size: 0.0 for size in [0, *sizes]}
    verdicts: dict[int, list] = {size: [] for size in seconds}
    for start in range(0, len(exprs), block):
        part = exprs[start : start + block]
        began = time.perf_counter()
        verdicts[0] += [screen_rule(e, rule_config=config) for e in part]
        seconds[0] += time.perf_counter() - began
        for size in sizes:
            began = time.perf_counter()
            verdicts[size] += screen_rules(part, rule_config=config, chunk=size)
            seconds[size] += time.perf_counter() - began
    return {"capability": torch.backends.cpu.get_cpu_capability(), "seconds": seconds, "verdicts": verdicts}


def report(where: str, measured: dict, recorded: list[bool]) -> None:
    """One table: ms per rule, speed-up, verdicts that differ and the largest best-score difference."""
    seconds, verdicts = measured["seconds"], measured["verdicts"]
    alone = verdicts[0]
    n = len(alone)
    flipped_vs_table = sum(v.passed != r for v, r in zip(alone, recorded))
    print(f"\n{where} ({measured['capability']} kernels), {n:,} rules, {sum(v.passed for v in alone):,} pass; "
          f"screen_rule's verdict differs from the table's record on {flipped_vs_table}")
    print("| screen | stack size | ms per rule | speed-up | verdicts that differ | largest best-score difference |")
    print("|---|---|---|---|---|---|")
    for size, spent in seconds.items():
        name, shown = ("`screen_rule`", "—") if size == 0 else ("`screen_rules`", str(size))
        flips = sum(a.passed != b.passed for a, b in zip(alone, verdicts[size]))
        largest = max(abs(a.best_score - b.best_score) for a, b in zip(alone, verdicts[size]))
        print(f"| {name} | {shown} | {spent / n * 1e3:.1f} | {seconds[0] / spent:.2f} | {flips} of {n:,} | {largest:.3g} |")


def main() -> None:
    from optsearch.evaluation.bench.portable import run_portable

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=512, help="table rules screened (half screened, half passed)")
    parser.add_argument("--sizes", default="1,8,32,128", help="stack sizes of screen_rules, comma-separated")
    parser.add_argument("--where", default="portable,native", help="kernels: portable, native or both")
    parser.add_argument("--block", type=int, default=128, help="rules per block (each way runs over a block in turn)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample")
    args = parser.parse_args()

    texts, recorded = sample(args.rules, args.seed)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    for where in args.where.split(","):
        began = time.perf_counter()
        if where == "portable":
            measured = run_portable(measure, texts, sizes, args.block)
        elif where == "native":
            measured = measure(texts, sizes, args.block)
        else:
            raise SystemExit(f"--where: portable or native, not {where!r}")
        report(where, measured, recorded)
        print(f"({time.perf_counter() - began:.0f} s)")


if __name__ == "__main__":
    main()

"""``optsearch compare``: searchers × seeds against one evaluator and store, and the report."""

from __future__ import annotations

import argparse

from optsearch.cli_options import (
    LRS_HELP,
    MAX_GROUPS,
    MAX_SEED_RUNS,
    add_backend_options,
    check_backend,
    eval_config,
    groups,
    learning_rates,
    output_folder,
    positive_int,
    searcher_list,
    seed_runs,
    with_overrides,
)
from optsearch.evaluation.executor import PARALLEL_BACKEND


def cmd_compare(args: argparse.Namespace) -> int:
    """Run searchers × seeds against one evaluator and store; write curves, summary, leaderboard."""
    import time

    from optsearch.searchers.compare import DEFAULT_SEARCHERS, CompareConfig, run_comparison

    check_backend(args)
    names = searcher_list(args.searchers, DEFAULT_SEARCHERS)
    compare = with_overrides(
        CompareConfig(), searchers=names, budget=args.budget, seeds=args.seeds, groups=args.groups, heldout_seeds=args.heldout_seeds
    )
    config = eval_config(args.task, args.steps, screen=True, hurdle=True, lrs=args.lrs)
    out = output_folder(args.out, "--out")
    store = args.store or str(out / "results.sqlite")
    started = time.perf_counter()

    def progress(name: str, seed: int, done: int, results) -> None:
        if not args.quiet and done == compare.budget:
            best = max(r.reward for r in results)
            print(f"[{time.perf_counter() - started:6.0f}s] {name:14s} seed {seed}: {done} proposals, best {best:.4f}", flush=True)

    outcome = run_comparison(
        compare,
        config,
        out,
        store=store,
        backend=args.backend,
        workers=args.workers,
        address=args.address,
        data_dir=args.data_dir,
        progress=progress,
    )
    print((out / "summary.md").read_text())
    print(f"wrote {', '.join(str(p) for p in outcome.files.values())} in {outcome.wall_s:.0f} s")
    return 0


def register(commands) -> None:
    """Add ``compare`` to the subparsers ``commands``."""
    compare = commands.add_parser("compare", help="compare searchers over seeds: curves, statistics, leaderboard")
    compare.add_argument("--searchers", default=None, help="comma-separated (default: reinforce,ppo,gp,random,evolution)")
    compare.add_argument("--budget", type=positive_int, default=None, help="proposals per searcher and seed")
    compare.add_argument("--seeds", type=seed_runs, default=None, help=f"seeds per searcher (at most {MAX_SEED_RUNS})")
    compare.add_argument(
        "--heldout-seeds", type=seed_runs, default=None, help="held-out seeds each incumbent is re-trained on (default 3)"
    )
    compare.add_argument("--task", default=None, help="task name (default: the embedded default)")
    compare.add_argument("--lrs", type=learning_rates, default=None, help=LRS_HELP)
    compare.add_argument("--steps", type=positive_int, default=None, help="optimizer steps per child")
    compare.add_argument("--groups", type=groups, default=None, help=f"5-token groups per rule (at most {MAX_GROUPS})")
    compare.add_argument("--out", default="compare-out", help="folder for the report")
    compare.add_argument("--store", default=None, help="results store (default: OUT/results.sqlite; resumes)")
    add_backend_options(compare, PARALLEL_BACKEND, address=True)
    compare.add_argument("--data-dir", default=None)
    compare.add_argument("--quiet", action="store_true")
    compare.set_defaults(handler=cmd_compare)

"""``optsearch eval`` (train the child with a rule, print its reward) and ``optsearch show`` (a store)."""

from __future__ import annotations

import argparse
import json

from optsearch.cli_options import (
    add_backend_options,
    add_protocol_options,
    add_training_options,
    eval_config,
    existing_store,
    positive_int,
    protocol_settings,
    seed,
)
from optsearch.evaluation.executor import DEFAULT_BACKEND


def _print_result(result, label: str) -> None:
    lr = "-" if result.lr is None else f"{result.lr:g}"
    cached = " (cached)" if result.cached else ""
    print(
        f"{label:10s} reward {result.reward:.4f}  status {result.status}  lr {lr}  "
        f"val {result.val_acc:.4f}  test {result.test_acc:.4f}  {result.wall_s:.1f}s{cached}  {result.rule}"
    )
    for row in result.per_lr:
        print(f"{'':12s}lr {row.lr:<8g} val {row.val_acc:.4f}  test {row.test_acc:.4f}  {row.status}  ({row.steps} steps)")


def _print_eval(args: argparse.Namespace, run) -> None:
    """Print ``eval``'s results: one JSON object (``--json``) or a line per rule."""
    if args.json:
        payload = run.to_dict(baselines=args.baselines)
        if payload is not None:
            print(json.dumps(payload))
        return
    print(f"task {run.task}, seed {run.seed}, {run.steps} steps, lrs {list(run.lrs)}")
    for label, result in run.results.items():
        _print_result(result, label)


def cmd_eval(args: argparse.Namespace) -> int:
    """Train the child with a rule (and optionally the baselines) and print the reward.

    When the store cannot be written, the results the evaluator still finished are printed
    before the error.
    """
    from optsearch.commands.rule_arguments import resolve_rule_argument
    from optsearch.evaluation.rule_eval import evaluate_rule

    expr = resolve_rule_argument(args.rule)
    config = eval_config(
        args.task,
        screen=args.screen,
        hurdle=args.hurdle,
        population_size=args.population_size,
        device=args.device,
        **protocol_settings(args),
    )
    run = evaluate_rule(
        expr,
        config,
        baselines=args.baselines,
        seed=args.seed,
        store=args.store,
        backend=args.backend,
        workers=args.workers,
        data_dir=args.data_dir,
        download=args.download,
    )
    if run.error is not None:
        if run.results:
            _print_eval(args, run)
        raise run.error
    _print_eval(args, run)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """Print a store's leaderboard, or every evaluation as JSON lines."""
    from optsearch.evaluation.store import SQLiteStore

    with SQLiteStore(existing_store(args.store), create=False) as store:
        if args.json:
            for row in store.rows_json():
                print(json.dumps(row))
            return 0
        top = store.top(args.top)
        runs = store.runs()
    print(f"{args.store}: {sum(r.get('evaluations', 0) for r in runs)} evaluations in {len(runs)} runs")
    print(f"{'#':>3}  {'reward':>7}  {'test':>6}  {'lr':>7}  {'status':9s} {'searcher':14s} rule")
    for rank, result in enumerate(top, start=1):
        lr = "-" if result.lr is None else f"{result.lr:g}"
        print(
            f"{rank:>3}  {result.reward:7.4f}  {result.test_acc:6.4f}  {lr:>7}  {result.status:9s} "
            f"{result.searcher:14s} {result.canonical}"
        )
    return 0


def register(commands) -> None:
    """Add ``eval`` and ``show`` to the subparsers ``commands``."""
    evaluate = commands.add_parser("eval", help="train the child with a rule and print its reward")
    evaluate.add_argument("rule", help="rule text, a named rule or space-separated tokens")
    evaluate.add_argument("--task", default=None, help="task name (default: the embedded default)")
    evaluate.add_argument("--seed", type=seed, default=0, help="0 to 2**63 - 1")
    add_protocol_options(evaluate)
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.add_argument("--store", default=None, help="SQLite results store to record into and reuse")
    evaluate.add_argument("--data-dir", default=None, help="where datasets such as CIFAR-10 live")
    evaluate.add_argument("--download", action="store_true", help="download the dataset (CIFAR-10) if missing")
    evaluate.add_argument("--baselines", action="store_true", help="also evaluate adam, momentum and sgd")
    add_backend_options(evaluate, DEFAULT_BACKEND)
    add_training_options(evaluate)
    evaluate.add_argument("--screen", action="store_true", help="apply the cheap screen first")
    evaluate.add_argument("--hurdle", action="store_true", help="apply the early hurdle")
    evaluate.set_defaults(handler=cmd_eval)

    show = commands.add_parser("show", help="a results store's leaderboard")
    show.add_argument("store", help="path of a SQLite results store")
    show.add_argument("--top", type=positive_int, default=10)
    show.add_argument("--json", action="store_true", help="one JSON object per evaluation")
    show.set_defaults(handler=cmd_show)

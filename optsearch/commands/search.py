"""``optsearch search``: run one searcher to a budget of proposals, with a progress bar on stderr."""

from __future__ import annotations

import argparse

from optsearch.cli_options import (
    MAX_GROUPS,
    add_backend_options,
    add_protocol_options,
    add_training_options,
    check_backend,
    eval_config,
    groups,
    positive_int,
    protocol_settings,
    searcher_options,
    seed,
)
from optsearch.evaluation.executor import PARALLEL_BACKEND


def _status(evaluator, results) -> str:
    """The search's progress text: trainings so far, the best reward and its rule."""
    status = f"trainings {evaluator.trainings}"
    best = max(results, key=lambda r: r.reward) if results else None
    if best is not None:
        status += f"  best {best.reward:.4f}  {best.canonical[:60]}"
    return status


def _print_top(results, k: int) -> None:
    """The ``k`` best distinct rules of ``results``, with their LaTeX."""
    from optsearch.commands.rule_arguments import latex_or_blank
    from optsearch.evaluation.ranking import best_distinct

    print(f"{'#':>3}  {'reward':>7}  {'test':>6}  {'status':8s} rule  |  LaTeX")
    for rank, result in enumerate(best_distinct(results, k), start=1):
        latex = latex_or_blank(result.canonical)
        print(f"{rank:>3}  {result.reward:7.4f}  {result.test_acc:6.4f}  {result.status:8s} {result.canonical}  |  {latex}")


def cmd_search(args: argparse.Namespace) -> int:
    """Run one searcher to a budget of proposals; resumable through the store."""
    from optsearch.commands.rule_arguments import resolve_rule_list
    from optsearch.evaluation.evaluator import Evaluator
    from optsearch.progress import Bars
    from optsearch.searchers import run_named_search

    check_backend(args)
    options = searcher_options(args.searcher, args.option, args.groups)
    config = eval_config(
        args.task,
        screen=not args.no_screen,
        hurdle=not args.no_hurdle,
        population_size=args.population_size,
        device=args.device,
        **protocol_settings(args),
    )
    seed_rules = resolve_rule_list(args.seed_rules)  # a bad seed rule is rejected before any work
    with Evaluator(
        config, store=args.store, backend=args.backend, workers=args.workers, address=args.address, data_dir=args.data_dir
    ) as evaluator:
        with Bars(quiet=args.quiet) as bars:

            def progress(done: int, results) -> None:
                bars.update("proposals", done, args.budget, status=_status(evaluator, results))

            outcome = run_named_search(
                args.searcher,
                evaluator,
                budget=args.budget,
                seed=args.seed,
                groups=args.groups,
                batch_size=args.batch_size,
                seed_rules=seed_rules,
                progress=progress if bars.enabled else None,
                **options,
            )
    cached = sum(r.cached for r in outcome.results)
    print(
        f"{outcome.searcher} seed {outcome.seed}: {len(outcome.results)} proposals, "
        f"{cached} cache hits, run {outcome.run_id!r} in {args.store}"
    )
    _print_top(outcome.results, args.top)
    return 0


def register(commands) -> None:
    """Add ``search`` to the subparsers ``commands``."""
    search = commands.add_parser("search", help="run one searcher to a budget of proposals (resumable)")
    search.add_argument(
        "--searcher", required=True, help="a searcher: a name from `optsearch list`, an entry point, or module:attribute"
    )
    search.add_argument(
        "--option",
        action="append",
        default=None,
        metavar="KEY=VALUE",
        help="a keyword argument of the searcher, typed by its signature (repeatable: --option entropy_weight=0 --option hidden=32)",
    )
    search.add_argument("--budget", type=positive_int, default=100, help="rule proposals to resolve")
    search.add_argument("--task", default=None, help="task name (default: the embedded default)")
    search.add_argument("--seed", type=seed, default=0, help="0 to 2**63 - 1")
    search.add_argument("--store", default="optsearch.sqlite", help="SQLite results store (resumes a run)")
    add_backend_options(search, PARALLEL_BACKEND, address=True)
    add_training_options(search)
    search.add_argument("--groups", type=groups, default=3, help=f"5-token groups per rule (at most {MAX_GROUPS})")
    search.add_argument("--batch-size", type=positive_int, default=8, help="proposals per ask (ask/tell searchers)")
    add_protocol_options(search)
    search.add_argument("--data-dir", default=None)
    search.add_argument(
        "--seed-rules", default="", help="comma-separated rules told first, e.g. adam,powersign (one starting with '-': --seed-rules=-g)"
    )
    search.add_argument("--no-screen", action="store_true")
    search.add_argument("--no-hurdle", action="store_true")
    search.add_argument("--top", type=positive_int, default=5)
    search.add_argument("--quiet", action="store_true", help="no progress bar")
    search.set_defaults(handler=cmd_search)

"""``optsearch confirm``: race rules against Adam on held-out seeds until each is decided."""

from __future__ import annotations

import argparse

from optsearch.cli_options import (
    UsageError,
    add_backend_options,
    add_protocol_options,
    add_training_options,
    eval_config,
    live_seed_count,
    output_folder,
    positive_int,
    protocol_settings,
)
from optsearch.evaluation.executor import PARALLEL_BACKEND

DEFAULT_OUT = "confirm-out"


def _alpha(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number in (0, 1), got {text!r}") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be a number in (0, 1), got {text!r}")
    return value


def cmd_confirm(args: argparse.Namespace) -> int:
    """Race ``args.rules`` against Adam (see :mod:`optsearch.evaluation.experiments.race`)."""
    from optsearch.commands.rule_arguments import resolve_rule_argument
    from optsearch.evaluation.evaluator import Evaluator
    from optsearch.evaluation.experiments.heldout import heldout_config
    from optsearch.evaluation.experiments.race import race_rules, write_race
    from optsearch.evaluation.statistics.racing import RacePlan
    from optsearch.evaluation.rewards import source_info
    from optsearch.progress import Bars

    rules = []
    for text in args.rules:
        resolve_rule_argument(text)  # a typo fails before any training
        if text not in rules:
            rules.append(text)
    task = args.task
    source = source_info(task)
    if source.heldout_is_expectation:
        # A held-out score there is the rule's expectation: no noise, nothing to race.
        live = source.live_task
        raise UsageError(f"--task {task} is a bench (expected scores, no seed noise): confirm rules on its live task, --task {live}")
    try:
        plan = RacePlan(first=min(args.first, args.race_seeds), step=args.step, cap=args.race_seeds, alpha=args.alpha)
    except ValueError as error:
        raise UsageError(str(error)) from None
    config = heldout_config(
        eval_config(
            task, screen=False, hurdle=False, population_size=args.population_size, device=args.device, **protocol_settings(args)
        )
    )
    out = output_folder(args.out, "--out")
    store = args.store or str(out / "results.sqlite")

    def look(seeds: int, undecided: int) -> None:
        if not args.quiet:
            print(f"look at {seeds} seeds: {undecided} undecided", flush=True)

    with Evaluator(config, store=store, backend=args.backend, workers=args.workers, data_dir=args.data_dir) as evaluator:
        with Bars(quiet=args.quiet) as bars:
            result = race_rules(evaluator, rules, plan, progress=bars.bar("race (seeds)"), on_look=look)
    files = write_race(result, out)
    print(files["race_md"].read_text())
    print("wrote " + ", ".join(str(p) for p in files.values()))
    return 0


def register(commands) -> None:
    """Add ``confirm`` to the subparsers ``commands``."""
    confirm = commands.add_parser(
        "confirm", help="race rules against Adam on held-out seeds until each beats it, loses to it or hits the seed cap"
    )
    confirm.add_argument("rules", nargs="+", help="rules (text or names); after -- for one starting with '-'")
    confirm.add_argument("--task", default="mnist1d", help="a task with data (default: mnist1d)")
    confirm.add_argument("--race-seeds", type=live_seed_count, default=20, metavar="N", help="the seed cap (default 20)")
    confirm.add_argument("--first", type=positive_int, default=5, help="seeds before the first look (default 5)")
    confirm.add_argument("--step", type=positive_int, default=5, help="seeds added per round (default 5)")
    confirm.add_argument("--alpha", type=_alpha, default=0.05, help="the chance of any false verdict (default 0.05)")
    add_protocol_options(confirm)
    confirm.add_argument("--store", default=None, help="results store (default: OUT/results.sqlite; a rerun trains nothing)")
    confirm.add_argument("--out", default=DEFAULT_OUT, help=f"folder for race.md, race.csv, race.png (default: {DEFAULT_OUT})")
    add_backend_options(confirm, PARALLEL_BACKEND)
    add_training_options(confirm)
    confirm.add_argument("--data-dir", default=None)
    confirm.add_argument("--quiet", action="store_true", help="no progress bar and no line per look")
    confirm.set_defaults(handler=cmd_confirm)

"""``optsearch compare``: searchers × seeds against one evaluator and store, and the report.

The settings come from the defaults, then an experiment file (``--config``,
:mod:`optsearch.experiment`), then the flags given; every option's default is ``None`` here so
that a flag given can be told from one left out. A manifest of the resolved settings is written
beside the report (:mod:`optsearch.manifest`) before any work, so even an interrupted comparison
can be resumed from it.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Optional

from optsearch.cli_options import (
    MAX_GROUPS,
    MAX_SEED_RUNS,
    UsageError,
    add_backend_options,
    add_protocol_options,
    add_training_options,
    budget_list,
    check_backend,
    eval_config,
    first_seed,
    groups,
    live_seed_count,
    nonnegative_int,
    output_folder,
    positive_int,
    protocol_settings,
    searcher_list,
    seed_runs,
    transfer_entries,
    with_overrides,
)
from optsearch.evaluation.executor import PARALLEL_BACKEND

DEFAULT_OUT = "compare-out"


def _experiment_arms(args: argparse.Namespace):
    """Apply ``--config`` to ``args``; the file's searchers (``None`` when it has none or no file)."""
    from optsearch.experiment import ExperimentError, apply_experiment, read_experiment

    if args.config is None:
        return None
    try:
        experiment = read_experiment(args.config)
    except ExperimentError as error:
        raise UsageError(str(error)) from None
    apply_experiment(args, experiment)
    return experiment.searchers


def _arms(text: Optional[str], file_arms, default: tuple[str, ...]):
    """The comparison's arms: the experiment file's; with ``--searchers`` naming only the file's
    labels, those of its arms (options included: a study run searcher by searcher); else the
    searchers ``--searchers`` names."""
    if text is None:
        return file_arms if file_arms is not None else default
    names = [name.strip() for name in text.split(",") if name.strip()]
    by_label = {arm.name: arm for arm in file_arms or ()}
    if names and all(name in by_label for name in names) and len(set(names)) == len(names):
        return tuple(by_label[name] for name in names)
    return searcher_list(text, default)


def _resolved_settings(args: argparse.Namespace, compare, config) -> dict[str, Any]:
    """Every experiment-file key with the value this run uses: given, else the comparison's
    default, else the evaluation's (the task's defaults filled in)."""
    from optsearch.evaluation.grouping import resolve_population_size
    from optsearch.evaluation.tasks import DEFAULTS
    from optsearch.experiment import SETTINGS

    sources = (args, compare, config.with_task_defaults(DEFAULTS[config.task]))  # the comparison's batch_size first
    resolved = {}
    for name in SETTINGS:
        resolved[name] = next((getattr(s, name) for s in sources if getattr(s, name, None) is not None), None)
    resolved["population_size"] = resolve_population_size(resolved["population_size"], config.device)
    return resolved


def cmd_compare(args: argparse.Namespace) -> int:
    """Run searchers × seeds against one evaluator and store; write curves, summary, leaderboard."""
    import time

    from optsearch.experiment import SETTINGS
    from optsearch.manifest import write_manifest
    from optsearch.progress import Bars
    from optsearch.searchers.studies.compare import DEFAULT_COMPARE_TASK, DEFAULT_SEARCHERS, CompareConfig, run_comparison
    from optsearch.searchers.options import check_buildable
    from optsearch.searchers.registry import resolve_searcher

    file_arms = _experiment_arms(args)
    args.backend = args.backend or PARALLEL_BACKEND
    args.out = args.out or DEFAULT_OUT
    check_backend(args)
    arms = _arms(args.searchers, file_arms, DEFAULT_SEARCHERS)
    config = eval_config(
        args.task or DEFAULT_COMPARE_TASK,
        screen=True,
        hurdle=True,
        population_size=args.population_size,
        device=args.device,
        **protocol_settings(args),
    )
    compare = with_overrides(
        CompareConfig.for_task(config.task),
        searchers=arms,
        budget=args.budget,
        seeds=args.seeds,
        first_seed=args.first_seed,
        groups=args.groups,
        heldout_seeds=args.heldout_seeds,
        batch_size=args.batch_size,
        race_top=args.race_top,
        race_seeds=args.race_seeds,
        transfer=args.transfer,
        transfer_seeds=args.transfer_seeds,
        verdict_budgets=args.verdict_budgets,
    )
    try:
        compare.verdict_steps()
    except ValueError as error:
        raise UsageError(f"--verdict-budgets: {error}") from None
    try:
        for arm in compare.arms():
            if arm.options:  # a value the searcher refuses fails now, not mid-comparison
                check_buildable(resolve_searcher(arm.searcher), arm.options, compare.groups)
    except ValueError as error:
        raise UsageError(str(error)) from None
    out = output_folder(args.out, "--out")
    store = args.store or str(out / "results.sqlite")
    args.store = store
    settings = _resolved_settings(args, compare, config)
    searchers = [
        {"name": arm.searcher, "label": arm.name, **({"options": dict(arm.options)} if arm.options else {})} for arm in compare.arms()
    ]
    command = ["optsearch", *getattr(args, "argv", sys.argv[1:])]
    paths = [name for name, setting in SETTINGS.items() if setting.path]
    write_manifest(settings, searchers, out, command=command, path_keys=paths)
    started = time.perf_counter()

    def progress(name: str, seed: int, done: int, results) -> None:
        if not args.quiet and done == compare.budget:
            best = max(r.reward for r in results)
            print(f"[{time.perf_counter() - started:6.0f}s] {name:14s} seed {seed}: {done} proposals, best {best:.4f}", flush=True)

    with Bars(quiet=args.quiet) as bars:
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
            phases=bars.phases,
        )
    print((out / "summary.md").read_text())
    print(f"wrote {', '.join(str(p) for p in outcome.files.values())} in {outcome.wall_s:.0f} s")
    return 0


def register(commands) -> None:
    """Add ``compare`` to the subparsers ``commands``."""
    compare = commands.add_parser("compare", help="compare searchers over seeds: curves, statistics, leaderboard")
    compare.add_argument(
        "--config",
        default=None,
        metavar="FILE",
        help="an experiment file (TOML: settings and [[searchers]] with labels and options), or a report's "
        "manifest.toml to run it again; its paths are relative to its folder; flags given override it",
    )
    compare.add_argument(
        "--searchers",
        default=None,
        help="comma-separated names, entry points or module:attribute (default: reinforce,ppo,gp,random,evolution); "
        "with --config, the file's labels pick those of its searchers, options included",
    )
    compare.add_argument("--budget", type=positive_int, default=None, help="proposals per searcher and seed")
    compare.add_argument("--seeds", type=seed_runs, default=None, help=f"seeds per searcher (at most {MAX_SEED_RUNS})")
    compare.add_argument(
        "--first-seed",
        type=first_seed,
        default=None,
        metavar="S",
        help="the first search seed (default 0): seeds S … S+N-1, so that a study can run in parts on several machines "
        "(`optsearch merge` joins their reports)",
    )
    compare.add_argument(
        "--heldout-seeds", type=seed_runs, default=None, help="held-out seeds each incumbent is re-trained on (default 3)"
    )
    compare.add_argument(
        "--race-top",
        "--live-check",
        dest="race_top",
        type=nonnegative_int,
        default=None,
        metavar="K",
        help="race the K best found rules against Adam on fresh held-out seeds until each is decided (on a bench: "
        "trained for real on its live task; default 5; 0: no race)",
    )
    compare.add_argument(
        "--race-seeds",
        "--live-seeds",
        dest="race_seeds",
        type=live_seed_count,
        default=None,
        metavar="N",
        help="the race's seed cap (default 20; looks after 5, 10, 15, 20 seeds)",
    )
    compare.add_argument(
        "--transfer",
        type=transfer_entries,
        default=None,
        metavar="TASK[:MODEL],...",
        help="the funnel: transfer the rules the race confirmed (else its best) to these tasks and networks, "
        "e.g. mnist1d:lstm,mnist1d:transformer,arith:transformer,digits (report in OUT/transfer/)",
    )
    compare.add_argument(
        "--transfer-seeds", type=live_seed_count, default=None, metavar="N", help="seeds per transfer task (default 5)"
    )
    compare.add_argument(
        "--verdict-budgets",
        type=budget_list,
        default=None,
        metavar="B,...",
        help="also give the verdict at these smaller budgets, from the same runs (each run's incumbent among its first "
        "B proposals), e.g. 100,500,2000; the final budget is always included (report: summary.md, budgets.csv, verdicts.csv)",
    )
    compare.add_argument(
        "--task",
        default=None,
        help="task name (default: mnist1d-bench, the bench of the embedded default, 20 seeds x 200 proposals; "
        "--task mnist1d runs it live, 5 seeds x 48 proposals)",
    )
    add_protocol_options(compare)
    compare.add_argument("--groups", type=groups, default=None, help=f"5-token groups per rule (at most {MAX_GROUPS})")
    compare.add_argument("--batch-size", type=positive_int, default=None, help="proposals per ask (ask/tell searchers; default 8)")
    compare.add_argument("--out", default=None, help=f"folder for the report and its manifest.toml (default: {DEFAULT_OUT})")
    compare.add_argument("--store", default=None, help="results store (default: OUT/results.sqlite; resumes)")
    add_backend_options(compare, PARALLEL_BACKEND, address=True)
    add_training_options(compare)
    compare.set_defaults(backend=None)  # PARALLEL_BACKEND unless the file or the flag says otherwise
    compare.add_argument("--data-dir", default=None)
    compare.add_argument("--quiet", action="store_true", help="no progress bars and no line per finished run")
    compare.set_defaults(handler=cmd_compare)

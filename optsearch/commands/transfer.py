"""``optsearch transfer``: rules (or a store's leaderboard) on larger tasks, with the DeepOBS protocol.

``--task`` takes one or more comma-separated ``TASK[:MODEL]`` entries. Each runs
:func:`~optsearch.evaluation.experiments.transfer.trainer.transfer` with the same rules, seeds and options;
one entry writes its files into ``--out`` as before, several into ``OUT/TASK-MODEL/``. The
cross-task summary (:mod:`~optsearch.evaluation.experiments.transfer.suite`) goes to ``OUT/`` in
either case.
"""

from __future__ import annotations

import argparse

from optsearch.cli_options import (
    MAX_SEED_RUNS,
    UsageError,
    existing_store,
    nonnegative_float,
    output_folder,
    positive_float,
    positive_int,
    seed_runs,
)


def reference_rules(text) -> dict[str, str]:
    """``{name: text}`` of the reference rules named in ``text`` (comma-separated, or ``all``)
    beyond the baselines every transfer has; a :class:`UsageError` for a name that is not one."""
    from optsearch.dsl.library import BASELINE_NAMES, REFERENCE_RULE_TEXTS

    if not text:
        return {}
    extra = [name for name in REFERENCE_RULE_TEXTS if name not in BASELINE_NAMES]
    names = extra if text.strip().lower() == "all" else [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in extra]
    if unknown:
        raise UsageError(f"--references: {unknown[0]!r} is not a reference rule; they are {', '.join(extra)} (or all)")
    return {name: REFERENCE_RULE_TEXTS[name] for name in names}


def _task_configs(args: argparse.Namespace, device) -> list:
    """``[(entry, TransferConfig)]`` of ``--task``; every entry is checked (config, data, model) before any training."""
    from optsearch.evaluation.experiments.transfer import TransferConfig, parse_task_entries
    from optsearch.evaluation.tasks import get_task
    from optsearch.evaluation.tasks.cifar10 import DownloadError
    from optsearch.evaluation.training.models import build_model

    try:
        entries = parse_task_entries(args.task, args.model)
    except ValueError as error:
        raise UsageError(str(error)) from None
    configs = []
    for entry in entries:
        try:
            config = TransferConfig(
                task=entry.task,
                model=entry.model,
                seeds=tuple(range(1, args.seeds + 1)),
                steps=args.steps,
                epochs=args.epochs,
                batch_size=args.batch_size,
                augment=args.augment,
                weight_decay=args.weight_decay,
                num_threads=1 if device.type == "cpu" else None,
            )
            # Loaded now (and cached) so that missing data or a model that does not fit the task's
            # input fails before the first entry trains, not hours into the suite.
            build_model(entry.model, get_task(entry.task, data_dir=args.data_dir, download=args.download), 0)
        except (ValueError, FileNotFoundError, DownloadError) as error:
            raise UsageError(f"--task entry {entry.text!r}: {error}") from None
        configs.append((entry, config))
    return configs


def cmd_transfer(args: argparse.Namespace) -> int:
    """DeepOBS-style transfer of rules (or a store's leaderboard) to one or more tasks, with the cross-task summary."""
    from optsearch.commands.rule_arguments import resolve_rule_argument
    from optsearch.evaluation.experiments.transfer import rules_from_store, run_suite
    from optsearch.evaluation.experiments.transfer.render import to_markdown
    from optsearch.evaluation.training.device import resolve_device
    from optsearch.progress import Bars

    try:
        device = resolve_device(args.device)
    except ValueError as error:
        raise UsageError(str(error)) from None
    rules: dict[str, str] = {}
    for text in args.rules:
        rules[text] = str(resolve_rule_argument(text))
    if args.store:
        rules.update(rules_from_store(existing_store(args.store), args.top))
    rules.update(reference_rules(args.references))
    if not rules:
        raise UsageError("name at least one rule, or --store with a leaderboard to transfer")
    configs = _task_configs(args, device)
    out = output_folder(args.out, "--out")
    single = len(configs) == 1
    processes = 1 if device.type != "cpu" else min(args.workers or 1, len(configs))

    def progress(entry):
        prefix = "" if single else f"{entry.label} "

        def report(done: int, total: int, record) -> None:
            if not args.quiet:
                print(f"[{prefix}{done}/{total}] {record.rule} lr {record.lr:g} seed {record.seed}: {record.status}", flush=True)

        return report

    def done(entry, result) -> None:
        if single:
            print(to_markdown(result))
        elif not args.quiet:
            print(f"{entry.label}: done in {result.wall_s:.0f} s", flush=True)

    with Bars(quiet=args.quiet) as bars:
        suite, suite_files = run_suite(
            rules,
            configs,
            out,
            processes=processes,
            data_dir=args.data_dir,
            device=str(device),
            progress=progress,
            done=done,
            runs_progress=bars.bar("transfer (runs)"),
        )
    print(suite_files["md"].read_text())
    print("wrote " + ", ".join(str(p) for p in suite_files.values()))
    return 0


def register(commands) -> None:
    """Add ``transfer`` to the subparsers ``commands``."""
    transfer = commands.add_parser("transfer", help="evaluate rules on other tasks and networks with the DeepOBS protocol, and compare them with Adam across them")
    transfer.add_argument(
        "rules", nargs="*", help="rules (text or names); adam, momentum and sgd are always added; after -- for one starting with '-'"
    )
    transfer.add_argument(
        "--task",
        required=True,
        help="TASK[:MODEL],... (e.g. digits,mnist1d:wrn-10-1); several entries write to OUT/TASK-MODEL/ (one: to "
        "OUT/), and OUT/transfer-suite.* compares every rule with Adam across them",
    )
    transfer.add_argument(
        "--model", default="paper", help="the model of an entry without :MODEL: paper, resnet (WRN-16-2), wrn-DEPTH-WIDTH; lstm, gru, transformer (sequence and language tasks)"
    )
    transfer.add_argument("--store", default=None, help="also transfer the top rules of this results store")
    transfer.add_argument("--top", type=positive_int, default=3, help="how many rules to take from --store")
    transfer.add_argument("--seeds", type=seed_runs, default=3, help=f"seeds at the best learning rate (at most {MAX_SEED_RUNS})")
    transfer.add_argument("--steps", type=positive_int, default=None)
    transfer.add_argument("--epochs", type=positive_float, default=None, help="passes over the training data")
    transfer.add_argument("--batch-size", type=positive_int, default=None)
    transfer.add_argument("--augment", action="store_true", help="random crops and flips (image tasks)")
    transfer.add_argument("--weight-decay", type=nonnegative_float, default=0.0, help="L2 coefficient, >= 0")
    transfer.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or mps")
    transfer.add_argument("--data-dir", default=None)
    transfer.add_argument("--download", action="store_true", help="download the dataset (CIFAR-10) if missing")
    transfer.add_argument("--out", default="transfer-out")
    transfer.add_argument(
        "--workers", type=positive_int, default=None, help="task entries trained at once, one process each (CPU; default 1)"
    )
    transfer.add_argument(
        "--references",
        default=None,
        metavar="NAMES",
        help="also transfer these reference rules (comma-separated names, or 'all': "
        "adamw, rmsprop, signsgd, signum, signum-ld, signum-cd, signum-rd)",
    )
    transfer.add_argument("--quiet", action="store_true", help="no progress bar and no line per training run")
    transfer.set_defaults(handler=cmd_transfer)

"""``optsearch transfer``: rules (or a store's leaderboard) on a larger task, with the DeepOBS protocol."""

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


def cmd_transfer(args: argparse.Namespace) -> int:
    """DeepOBS-style transfer of rules (or a store's leaderboard) to a larger task."""
    from optsearch.dsl.arguments import resolve_rule_argument
    from optsearch.evaluation.reports.transfer import TransferConfig, resolve_device, rules_from_store, transfer

    try:
        device = resolve_device(args.device)
    except ValueError as error:
        raise UsageError(str(error)) from None
    rules: dict[str, str] = {}
    for text in args.rules:
        rules[text] = str(resolve_rule_argument(text))
    if args.store:
        rules.update(rules_from_store(existing_store(args.store), args.top))
    if not rules:
        raise UsageError("name at least one rule, or --store with a leaderboard to transfer")
    try:
        config = TransferConfig(
            task=args.task,
            model=args.model,
            seeds=tuple(range(1, args.seeds + 1)),
            steps=args.steps,
            epochs=args.epochs,
            batch_size=args.batch_size,
            augment=args.augment,
            weight_decay=args.weight_decay,
            num_threads=1 if device.type == "cpu" else None,
        )
    except ValueError as error:
        raise UsageError(str(error)) from None
    out = output_folder(args.out, "--out")

    def progress(done: int, total: int, record) -> None:
        if not args.quiet:
            print(f"[{done}/{total}] {record.rule} lr {record.lr:g} seed {record.seed}: {record.status}", flush=True)

    result = transfer(rules, config, data_dir=args.data_dir, download=args.download, device=device, progress=progress)
    files = result.write(out)
    print(files["md"].read_text())
    print("wrote " + ", ".join(str(p) for p in files.values()))
    return 0


def register(commands) -> None:
    """Add ``transfer`` to the subparsers ``commands``."""
    transfer = commands.add_parser("transfer", help="evaluate rules on a larger task with the DeepOBS protocol")
    transfer.add_argument(
        "rules", nargs="*", help="rules (text or names); adam, momentum and sgd are always added; after -- for one starting with '-'"
    )
    transfer.add_argument("--task", required=True, help="digits, mnist1d or cifar10")
    transfer.add_argument("--model", default="paper", help="paper, resnet (WRN-16-2) or wrn-DEPTH-WIDTH")
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
    transfer.add_argument("--quiet", action="store_true")
    transfer.set_defaults(handler=cmd_transfer)

"""The ``optsearch`` command line: parsing and printing only; the work happens in the library.

Bad input (a malformed rule, an unknown token, a missing dataset, a bad option) prints one line
``optsearch: error: ...`` on stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Callable, Optional, Sequence

from optsearch.dsl import (
    NAMED_RULES,
    ParseError,
    TokenError,
    canonical,
    fingerprint,
    from_tokens,
    resolve_rule,
    to_latex,
    to_tokens,
)
from optsearch.dsl.primitives import BINARIES, OPERANDS, SIGN_OPERANDS, UNARIES
from optsearch.evaluation.cifar10 import DownloadError
from optsearch.evaluation.store import StoreError

EXIT_USAGE = 2
MAX_INT = 2**63 - 1  # the largest integer SQLite and torch's generators hold (seeds, budgets, ...)
MAX_GROUPS = 64  # 5-token groups per rule: far beyond any searched rule, short of a memory blow-up
MAX_SEED_RUNS = 1000  # seeds per searcher or per transferred rule


class UsageError(Exception):
    """Bad input from the user: reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


# ------------------------------------------------------------------------------------------------
# argument types and checks
# ------------------------------------------------------------------------------------------------
def _int_in(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` to ``high``."""
    high_text = "2**63 - 1" if high == MAX_INT else str(high)

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low} to {high_text}, got {value}")
        return value

    return parse


def _finite_float(minimum: float, *, strict: bool) -> Callable[[str], float]:
    """An argparse type: a finite number above ``minimum`` (``strict``) or at least ``minimum``."""
    bound = f"> {minimum:g}" if strict else f">= {minimum:g}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value) or value < minimum or (strict and value == minimum):
            raise argparse.ArgumentTypeError(f"must be a finite number {bound}, got {text!r}")
        return value

    return parse


_positive_int = _int_in(1, MAX_INT)
_seed = _int_in(0, MAX_INT)
_groups = _int_in(1, MAX_GROUPS)
_seed_runs = _int_in(1, MAX_SEED_RUNS)
_positive_float = _finite_float(0.0, strict=True)
_nonnegative_float = _finite_float(0.0, strict=False)


def _check_backend(args: argparse.Namespace) -> None:
    """Reject ``--address`` without ``--backend ray``, before anything connects anywhere."""
    if args.address is not None and args.backend != "ray":
        raise UsageError(f"--address {args.address} is only for --backend ray, not --backend {args.backend}")


def _output_folder(text: str, option: str) -> Path:
    """The report folder ``text``, created now so that a bad path fails before any work."""
    folder = Path(text)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{option} {text}: exists and is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"{option} {text}: cannot create the folder ({error.strerror or error})") from None
    return folder


def _rule_from_argument(text: str):
    """A rule from a CLI argument: a named rule, rule text, or tokens separated by spaces."""
    try:
        return resolve_rule(text)
    except ParseError:
        words = text.split()
        if len(words) >= 5 and len(words) % 5 == 0:
            return from_tokens(words)  # a TokenError names the bad token and its position
        raise


# ------------------------------------------------------------------------------------------------
# list / export
# ------------------------------------------------------------------------------------------------
def cmd_list(args: argparse.Namespace) -> int:
    """Print the vocabulary, the named rules and the registered searchers."""
    import optsearch.searchers  # noqa: F401  (registers the searchers)
    from optsearch.evaluation.tasks import TASKS as TASK_NAMES
    from optsearch.registry_entries import SEARCHERS

    if args.json:
        print(
            json.dumps(
                {
                    "operands": [op.name for op in OPERANDS] + list(SIGN_OPERANDS),
                    "unary": [u.name for u in UNARIES],
                    "binary": [b.name for b in BINARIES],
                    "named_rules": NAMED_RULES,
                    "searchers": list(SEARCHERS),
                    "tasks": list(TASK_NAMES),
                },
                indent=2,
            )
        )
        return 0
    print("Operands:")
    for op in OPERANDS:
        print(f"  {op.text:10s} {op.doc}")
    for name in SIGN_OPERANDS:
        print(f"  {name:10s} sign of {name[5:-1]} (an operand token; the unary sign in a tree)")
    print("Unary functions:")
    for u in UNARIES:
        label = u.name if u.param_text is None else f"{u.text}(x, {u.param_text})"
        print(f"  {label:14s} {u.doc}")
    print("Binary functions:")
    for b in BINARIES:
        label = f"x {b.symbol} y" if b.symbol else f"{b.name}(x, y)"
        print(f"  {label:10s} {b.doc}")
    print("Named rules:")
    for name, text in NAMED_RULES.items():
        print(f"  {name:14s} {text}")
    print("Searchers:")
    for name, entry in SEARCHERS.items():
        print(f"  {name:14s} {entry.description}")
    print("Tasks:")
    print("  " + ", ".join(TASK_NAMES))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Print a rule as text, LaTeX, tokens or JSON."""
    expr = _rule_from_argument(args.rule)
    if args.canonical:
        expr = canonical(expr)
    if args.format == "text":
        print(str(expr))
    elif args.format == "latex":
        print(to_latex(expr))
    elif args.format == "tokens":
        try:
            print(" ".join(to_tokens(expr, args.groups)))
        except ValueError as error:
            raise UsageError(str(error)) from None
    else:
        print(
            json.dumps(
                {
                    "text": str(expr),
                    "canonical": str(canonical(expr)),
                    "latex": to_latex(expr),
                    "tokens": to_tokens(expr),
                    "fingerprint": fingerprint(expr),
                }
            )
        )
    return 0


# ------------------------------------------------------------------------------------------------
# eval / show
# ------------------------------------------------------------------------------------------------
def _eval_config(args: argparse.Namespace, *, screen: bool, hurdle: bool):
    from optsearch.evaluation.config import EvalConfig
    from optsearch.evaluation.tasks import DEFAULT_TASK, TASKS

    task = args.task or DEFAULT_TASK
    if task not in TASKS:
        raise UsageError(f"unknown task {task!r}; tasks are {', '.join(TASKS)}")
    return EvalConfig(task=task, steps=args.steps, screen=screen, hurdle=hurdle)


def _result_json(result) -> dict:
    return {
        "rule": result.rule,
        "canonical": result.canonical,
        "fingerprint": result.fingerprint,
        "task": result.task,
        "seed": result.seed,
        "reward": result.reward,
        "status": result.status,
        "lr": result.lr,
        "val_acc": result.val_acc,
        "test_acc": result.test_acc,
        "cached": result.cached,
        "cost": result.cost,
        "wall_s": result.wall_s,
        "per_lr": [{"lr": r.lr, "val_acc": r.val_acc, "test_acc": r.test_acc, "status": r.status} for r in result.per_lr],
        "detail": result.detail,
    }


def _print_result(result, label: str) -> None:
    lr = "-" if result.lr is None else f"{result.lr:g}"
    cached = " (cached)" if result.cached else ""
    print(
        f"{label:10s} reward {result.reward:.4f}  status {result.status}  lr {lr}  "
        f"val {result.val_acc:.4f}  test {result.test_acc:.4f}  {result.wall_s:.1f}s{cached}  {result.rule}"
    )
    for row in result.per_lr:
        print(f"{'':12s}lr {row.lr:<8g} val {row.val_acc:.4f}  test {row.test_acc:.4f}  {row.status}  ({row.steps} steps)")


def _print_eval(args: argparse.Namespace, labels: Sequence[str], results, evaluator) -> None:
    """Print ``eval``'s results: one JSON object (``--json``) or a line per rule."""
    labelled = {label: result for label, result in zip(labels, results) if result is not None}
    if args.json:
        if "rule" in labelled:
            payload = _result_json(labelled.pop("rule"))
            if args.baselines:
                payload["baselines"] = {label: _result_json(r) for label, r in labelled.items()}
            print(json.dumps(payload))
        return
    print(f"task {evaluator.task}, seed {args.seed}, {evaluator.config.steps} steps, lrs {list(evaluator.config.lrs)}")
    for label, result in labelled.items():
        _print_result(result, label)


def cmd_eval(args: argparse.Namespace) -> int:
    """Train the child with a rule (and optionally the baselines) and print the reward.

    When the store cannot be written, the results the evaluator still finished are printed
    before the error.
    """
    from optsearch.dsl.library import BASELINE_NAMES
    from optsearch.evaluation.evaluator import Evaluator

    rules = [("rule", _rule_from_argument(args.rule))]
    if args.baselines:
        rules += [(name, resolve_rule(name)) for name in BASELINE_NAMES]
    labels = [label for label, _ in rules]
    config = _eval_config(args, screen=args.screen, hurdle=args.hurdle)
    if args.download:
        from optsearch.evaluation.tasks import get_task

        get_task(config.task, data_dir=args.data_dir, download=True)
    with Evaluator(config, store=args.store, backend=args.backend, workers=args.workers, data_dir=args.data_dir) as evaluator:
        try:
            results = evaluator.evaluate([expr for _, expr in rules], seed=args.seed, searcher="eval", run_id="eval")
        except StoreError as error:
            finished = getattr(error, "results", None)
            if finished:
                _print_eval(args, labels, finished, evaluator)
            raise
    _print_eval(args, labels, results, evaluator)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """Print a store's leaderboard, or every evaluation as JSON lines."""
    from optsearch.evaluation.store import ResultStore

    if not Path(args.store).exists():
        raise UsageError(f"no results store at {args.store}")
    with ResultStore(args.store, create=False) as store:
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


def _add_eval_commands(commands) -> None:
    evaluate = commands.add_parser("eval", help="train the child with a rule and print its reward")
    evaluate.add_argument("rule", help="rule text, a named rule or space-separated tokens")
    evaluate.add_argument("--task", default=None, help="task name (default: the embedded default)")
    evaluate.add_argument("--seed", type=_seed, default=0, help="0 to 2**63 - 1")
    evaluate.add_argument("--steps", type=_positive_int, default=None, help="optimizer steps per child")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.add_argument("--store", default=None, help="SQLite results store to record into and reuse")
    evaluate.add_argument("--data-dir", default=None, help="where datasets such as CIFAR-10 live")
    evaluate.add_argument("--download", action="store_true", help="download the dataset (CIFAR-10) if missing")
    evaluate.add_argument("--baselines", action="store_true", help="also evaluate adam, momentum and sgd")
    evaluate.add_argument("--backend", choices=("serial", "process", "ray"), default="serial")
    evaluate.add_argument("--workers", type=_positive_int, default=None)
    evaluate.add_argument("--screen", action="store_true", help="apply the cheap screen first")
    evaluate.add_argument("--hurdle", action="store_true", help="apply the early hurdle")
    evaluate.set_defaults(handler=cmd_eval)

    show = commands.add_parser("show", help="a results store's leaderboard")
    show.add_argument("store", help="path of a SQLite results store")
    show.add_argument("--top", type=_positive_int, default=10)
    show.add_argument("--json", action="store_true", help="one JSON object per evaluation")
    show.set_defaults(handler=cmd_show)


# ------------------------------------------------------------------------------------------------
# search
# ------------------------------------------------------------------------------------------------
class _SearchProgress:
    """A one-line live display: proposals, trainings, best reward so far and the best rule."""

    def __init__(self, budget: int, evaluator, enabled: bool):
        self.budget = budget
        self.evaluator = evaluator
        self.enabled = enabled
        self._progress = None

    def __enter__(self) -> "_SearchProgress":
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                TextColumn("proposals"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[status]}"),
                TimeElapsedColumn(),
                transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task("search", total=self.budget, status="")
        return self

    def __call__(self, done: int, results) -> None:
        if self._progress is None:
            return
        best = max(results, key=lambda r: r.reward) if results else None
        status = f"trainings {self.evaluator.trainings}"
        if best is not None:
            status += f"  best {best.reward:.4f}  {best.canonical[:60]}"
        self._progress.update(self._task, completed=done, status=status)

    def __exit__(self, *exc_info: object) -> None:
        if self._progress is not None:
            self._progress.stop()


def _print_top(results, k: int) -> None:
    from optsearch.dsl import parse

    seen: set[str] = set()
    print(f"{'#':>3}  {'reward':>7}  {'test':>6}  {'status':8s} rule  |  LaTeX")
    for result in sorted(results, key=lambda r: -r.reward):
        if result.canonical in seen:
            continue
        seen.add(result.canonical)
        try:
            latex = to_latex(parse(result.canonical))
        except ParseError:
            latex = ""
        print(f"{len(seen):>3}  {result.reward:7.4f}  {result.test_acc:6.4f}  {result.status:8s} {result.canonical}  |  {latex}")
        if len(seen) == k:
            break


def cmd_search(args: argparse.Namespace) -> int:
    """Run one searcher to a budget of proposals; resumable through the store."""
    import optsearch.searchers  # noqa: F401  (registers the searchers)
    from optsearch.evaluation.evaluator import Evaluator
    from optsearch.registry_entries import SEARCHERS
    from optsearch.searchers import run_named_search

    _check_backend(args)
    if args.searcher not in SEARCHERS:
        raise UsageError(f"unknown searcher {args.searcher!r}; searchers are {', '.join(SEARCHERS)}")
    config = _eval_config(args, screen=not args.no_screen, hurdle=not args.no_hurdle)
    seed_rules = tuple(r for r in (args.seed_rules or "").split(",") if r)
    for rule in seed_rules:
        _rule_from_argument(rule)  # reject a bad seed rule before any work
    with Evaluator(
        config, store=args.store, backend=args.backend, workers=args.workers, address=args.address, data_dir=args.data_dir
    ) as evaluator:
        with _SearchProgress(args.budget, evaluator, enabled=not args.quiet) as progress:
            outcome = run_named_search(
                args.searcher,
                evaluator,
                budget=args.budget,
                seed=args.seed,
                groups=args.groups,
                batch_size=args.batch_size,
                seed_rules=seed_rules,
                progress=progress,
            )
    cached = sum(r.cached for r in outcome.results)
    print(
        f"{outcome.searcher} seed {outcome.seed}: {len(outcome.results)} proposals, "
        f"{cached} cache hits, run {outcome.run_id!r} in {args.store}"
    )
    _print_top(outcome.results, args.top)
    return 0


def _add_search_command(commands) -> None:
    search = commands.add_parser("search", help="run one searcher to a budget of proposals (resumable)")
    search.add_argument("--searcher", required=True, help="a registered searcher (see `optsearch list`)")
    search.add_argument("--budget", type=_positive_int, default=100, help="rule proposals to resolve")
    search.add_argument("--task", default=None, help="task name (default: the embedded default)")
    search.add_argument("--seed", type=_seed, default=0, help="0 to 2**63 - 1")
    search.add_argument("--store", default="optsearch.sqlite", help="SQLite results store (resumes a run)")
    search.add_argument("--backend", choices=("serial", "process", "ray"), default="process")
    search.add_argument("--workers", type=_positive_int, default=None)
    search.add_argument("--address", default=None, help="Ray cluster address (with --backend ray)")
    search.add_argument("--groups", type=_groups, default=3, help=f"5-token groups per rule (at most {MAX_GROUPS})")
    search.add_argument("--batch-size", type=_positive_int, default=8, help="proposals per ask (ask/tell searchers)")
    search.add_argument("--steps", type=_positive_int, default=None, help="optimizer steps per child")
    search.add_argument("--data-dir", default=None)
    search.add_argument("--seed-rules", default="", help="comma-separated rules told first, e.g. adam,powersign")
    search.add_argument("--no-screen", action="store_true")
    search.add_argument("--no-hurdle", action="store_true")
    search.add_argument("--top", type=_positive_int, default=5)
    search.add_argument("--quiet", action="store_true", help="no progress display")
    search.set_defaults(handler=cmd_search)


# ------------------------------------------------------------------------------------------------
# compare
# ------------------------------------------------------------------------------------------------
def _compare_searchers(text: Optional[str]) -> tuple[str, ...]:
    """The searchers named by ``--searchers`` (the default set when not given), checked."""
    import optsearch.searchers  # noqa: F401  (registers the searchers)
    from optsearch.registry_entries import SEARCHERS
    from optsearch.searchers.compare import DEFAULT_SEARCHERS

    if text is None:
        return tuple(DEFAULT_SEARCHERS)
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        raise UsageError(f"--searchers {text!r} names no searcher; searchers are {', '.join(SEARCHERS)}")
    unknown = [n for n in names if n not in SEARCHERS]
    if unknown:
        raise UsageError(f"unknown searcher {unknown[0]!r}; searchers are {', '.join(SEARCHERS)}")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise UsageError(f"--searchers names {repeated[0]!r} twice")
    return names


def cmd_compare(args: argparse.Namespace) -> int:
    """Run searchers × seeds against one evaluator and store; write curves, summary, leaderboard."""
    import time

    from optsearch.searchers.compare import CompareConfig, run_comparison

    _check_backend(args)
    names = _compare_searchers(args.searchers)
    defaults = CompareConfig()
    compare = CompareConfig(
        searchers=names,
        budget=args.budget or defaults.budget,
        seeds=args.seeds or defaults.seeds,
        groups=args.groups or defaults.groups,
    )
    eval_config = _eval_config(args, screen=True, hurdle=True)
    out = _output_folder(args.out, "--out")
    store = args.store or str(out / "results.sqlite")
    started = time.perf_counter()

    def progress(name: str, seed: int, done: int, results) -> None:
        if not args.quiet and done == compare.budget:
            best = max(r.reward for r in results)
            print(f"[{time.perf_counter() - started:6.0f}s] {name:14s} seed {seed}: {done} proposals, best {best:.4f}", flush=True)

    outcome = run_comparison(
        compare,
        eval_config,
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


def _add_compare_command(commands) -> None:
    compare = commands.add_parser("compare", help="compare searchers over seeds: curves, statistics, leaderboard")
    compare.add_argument("--searchers", default=None, help="comma-separated (default: reinforce,ppo,gp,random,evolution)")
    compare.add_argument("--budget", type=_positive_int, default=None, help="proposals per searcher and seed")
    compare.add_argument("--seeds", type=_seed_runs, default=None, help=f"seeds per searcher (at most {MAX_SEED_RUNS})")
    compare.add_argument("--task", default=None, help="task name (default: the embedded default)")
    compare.add_argument("--steps", type=_positive_int, default=None, help="optimizer steps per child")
    compare.add_argument("--groups", type=_groups, default=None, help=f"5-token groups per rule (at most {MAX_GROUPS})")
    compare.add_argument("--out", default="compare-out", help="folder for the report")
    compare.add_argument("--store", default=None, help="results store (default: OUT/results.sqlite; resumes)")
    compare.add_argument("--backend", choices=("serial", "process", "ray"), default="process")
    compare.add_argument("--workers", type=_positive_int, default=None)
    compare.add_argument("--address", default=None, help="Ray cluster address (with --backend ray)")
    compare.add_argument("--data-dir", default=None)
    compare.add_argument("--quiet", action="store_true")
    compare.set_defaults(handler=cmd_compare)


# ------------------------------------------------------------------------------------------------
# transfer
# ------------------------------------------------------------------------------------------------
def cmd_transfer(args: argparse.Namespace) -> int:
    """DeepOBS-style transfer of rules (or a store's leaderboard) to a larger task."""
    from optsearch.evaluation.transfer import TransferConfig, resolve_device, rules_from_store, transfer

    try:
        device = resolve_device(args.device)
    except ValueError as error:
        raise UsageError(str(error)) from None
    rules: dict[str, str] = {}
    for text in args.rules:
        rules[text] = str(_rule_from_argument(text))
    if args.store:
        if not Path(args.store).exists():
            raise UsageError(f"no results store at {args.store}")
        rules.update(rules_from_store(args.store, args.top))
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
    out = _output_folder(args.out, "--out")

    def progress(done: int, total: int, record) -> None:
        if not args.quiet:
            print(f"[{done}/{total}] {record.rule} lr {record.lr:g} seed {record.seed}: {record.status}", flush=True)

    result = transfer(rules, config, data_dir=args.data_dir, download=args.download, device=device, progress=progress)
    files = result.write(out)
    print(files["md"].read_text())
    print("wrote " + ", ".join(str(p) for p in files.values()))
    return 0


def _add_transfer_command(commands) -> None:
    transfer = commands.add_parser("transfer", help="evaluate rules on a larger task with the DeepOBS protocol")
    transfer.add_argument("rules", nargs="*", help="rules (text or names); adam, momentum and sgd are always added")
    transfer.add_argument("--task", required=True, help="digits, mnist1d or cifar10")
    transfer.add_argument("--model", default="paper", help="paper, resnet (WRN-16-2) or wrn-DEPTH-WIDTH")
    transfer.add_argument("--store", default=None, help="also transfer the top rules of this results store")
    transfer.add_argument("--top", type=_positive_int, default=3, help="how many rules to take from --store")
    transfer.add_argument("--seeds", type=_seed_runs, default=3, help=f"seeds at the best learning rate (at most {MAX_SEED_RUNS})")
    transfer.add_argument("--steps", type=_positive_int, default=None)
    transfer.add_argument("--epochs", type=_positive_float, default=None, help="passes over the training data")
    transfer.add_argument("--batch-size", type=_positive_int, default=None)
    transfer.add_argument("--augment", action="store_true", help="random crops and flips (image tasks)")
    transfer.add_argument("--weight-decay", type=_nonnegative_float, default=0.0, help="L2 coefficient, >= 0")
    transfer.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or mps")
    transfer.add_argument("--data-dir", default=None)
    transfer.add_argument("--download", action="store_true", help="download the dataset (CIFAR-10) if missing")
    transfer.add_argument("--out", default="transfer-out")
    transfer.add_argument("--quiet", action="store_true")
    transfer.set_defaults(handler=cmd_transfer)


# ------------------------------------------------------------------------------------------------
# the parser
# ------------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="optsearch", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    listing = commands.add_parser("list", help="the vocabulary, named rules, searchers and tasks")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=cmd_list)

    export = commands.add_parser("export", help="print a rule as text, LaTeX or tokens")
    export.add_argument("rule", help="rule text, a named rule (e.g. powersign) or space-separated tokens")
    export.add_argument("--format", choices=("text", "latex", "tokens", "json"), default="text")
    export.add_argument("--groups", type=_groups, default=None, help=f"exact number of 5-token groups (at most {MAX_GROUPS})")
    export.add_argument("--canonical", action="store_true", help="print the canonical form")
    export.set_defaults(handler=cmd_export)

    for register in _EXTRA_COMMANDS:
        register(commands)
    return parser


# Later commands (eval, search, compare, show, transfer) add themselves here.
_EXTRA_COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [_add_eval_commands, _add_search_command, _add_compare_command, _add_transfer_command]

# Exceptions reported as one line, without a traceback: the user's input is wrong, or the user has
# to fix something outside the program (a results store, a download).
USER_ERRORS: tuple[type[BaseException], ...] = (
    UsageError,
    ParseError,
    TokenError,
    FileNotFoundError,
    StoreError,
    DownloadError,
)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``optsearch`` console script."""
    try:
        args = build_parser().parse_args(argv)
        return int(args.handler(args) or 0)
    except USER_ERRORS as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(f"optsearch: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # e.g. `optsearch list | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("optsearch: interrupted; finished results are kept in the store", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

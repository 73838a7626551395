"""The command line's option types and checks: every way an option can be wrong, found before any work.

- :class:`UsageError`: bad input, reported as one line ``optsearch: error: ...``, exit status 2.
- argparse types (:func:`int_in`, :func:`finite_float` and the ready-made ``positive_int``,
  ``seed``, ``groups``, ``seed_runs``, ``positive_float``, ``nonnegative_float``): a bad value
  names the option and the accepted range.
- checks of values that need more than one option or the library: :func:`check_backend`,
  :func:`output_folder`, :func:`eval_config`, :func:`check_searcher`, :func:`searcher_list`,
  :func:`searcher_options` (``--option key=value``).
- :func:`with_overrides`: a config's defaults merged with the options the user gave.
- :func:`add_backend_options`: ``--backend``/``--workers`` (and ``--address``) for a command;
  :func:`add_training_options`: ``--population-size`` and ``--device``;
  :func:`add_protocol_options`: the training protocol's settings (``--lrs``, ``--steps``), read
  back for :func:`eval_config` by :func:`protocol_settings`.

Nothing here imports SB3, Ray, matplotlib, scikit-learn or SciPy: ``optsearch list`` starts fast.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from pathlib import Path
from typing import Any, Callable, Optional

from optsearch.evaluation.executor import BACKENDS

MAX_INT = 2**63 - 1  # the largest integer SQLite and torch's generators hold (seeds, budgets, ...)
MAX_GROUPS = 64  # 5-token groups per rule: far beyond any searched rule, short of a memory blow-up
MAX_SEED_RUNS = 1000  # seeds per searcher or per transferred rule
#: The highest first search seed: with at most MAX_SEED_RUNS seeds, search seeds stay below the
#: held-out seeds (1,000,000 and up, ``optsearch.evaluation.experiments.heldout.HELDOUT_SEED_BASE``).
MAX_FIRST_SEED = 999_000


class UsageError(Exception):
    """Bad input from the user: reported as one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are :class:`UsageError` (one line), not an exit."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


# ------------------------------------------------------------------------------------------------
# argparse types
# ------------------------------------------------------------------------------------------------
def int_in(low: int, high: int) -> Callable[[str], int]:
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


def finite_float(minimum: float, *, strict: bool) -> Callable[[str], float]:
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


positive_int = int_in(1, MAX_INT)
seed = int_in(0, MAX_INT)
groups = int_in(1, MAX_GROUPS)
seed_runs = int_in(1, MAX_SEED_RUNS)
nonnegative_int = int_in(0, MAX_INT)
live_seed_count = int_in(2, MAX_SEED_RUNS)
first_seed = int_in(0, MAX_FIRST_SEED)
positive_float = finite_float(0.0, strict=True)
nonnegative_float = finite_float(0.0, strict=False)


def budget_list(text: str) -> tuple[int, ...]:
    """An argparse type: comma-separated positive budgets (``100,500,2000``), sorted, each once; "" is none."""
    budgets = set()
    for word in filter(None, (w.strip() for w in text.split(","))):
        try:
            budgets.add(positive_int(word))
        except argparse.ArgumentTypeError as error:
            raise argparse.ArgumentTypeError(f"each budget {error}") from None
    return tuple(sorted(budgets))


def transfer_entries(text: str) -> str:
    """An argparse type: ``TASK[:MODEL],...`` entries of a transfer suite, checked for form and names
    (a task with data, a model that fits it); the text itself is kept ("" for none)."""
    from optsearch.evaluation.experiments.transfer.config import TransferConfig
    from optsearch.evaluation.experiments.transfer.suite import parse_task_entries

    if not text.strip():
        return ""
    try:
        for entry in parse_task_entries(text):
            TransferConfig(entry.task, model=entry.model)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text.strip()


def learning_rates(text: str) -> tuple[float, ...]:
    """An argparse type: comma-separated positive, finite learning rates (``1e-3,3e-3,1e-2``)."""
    rates = []
    for word in text.split(","):
        try:
            rates.append(positive_float(word.strip()))
        except argparse.ArgumentTypeError as error:
            raise argparse.ArgumentTypeError(f"each learning rate {error}") from None
    if len(set(rates)) != len(rates):
        raise argparse.ArgumentTypeError(f"learning rates must differ, got {text!r}")
    return tuple(sorted(rates))


LRS_HELP = "comma-separated learning-rate grid (default: the task's, half-decades 1e-4 … 1 with halving)"

#: The training protocol's settings that the evaluating commands (``search``, ``eval``, ``confirm``,
#: ``compare``) take as options, by the :class:`~optsearch.evaluation.config.EvalConfig` field each
#: sets (its ``dest``; not given: ``None``, the task's default): the flag, its argparse type, its
#: help. One entry here makes a training setting an option of all four commands.
PROTOCOL_OPTIONS: dict[str, tuple[str, Callable[[str], Any], str]] = {
    "lrs": ("--lrs", learning_rates, LRS_HELP),
    "steps": ("--steps", positive_int, "optimizer steps per child"),
}


def add_backend_options(parser: argparse.ArgumentParser, default: str, *, address: bool = False) -> None:
    """``--backend`` (``default`` when not given), ``--workers`` and, with ``address``, ``--address``."""
    parser.add_argument("--backend", choices=BACKENDS, default=default, help=f"how children are trained (default: {default})")
    parser.add_argument("--workers", type=positive_int, default=None)
    if address:
        parser.add_argument("--address", default=None, help="Ray cluster address (with --backend ray)")


def add_protocol_options(parser: argparse.ArgumentParser) -> None:
    """The options of :data:`PROTOCOL_OPTIONS` (``--lrs``, ``--steps``), each ``None`` unless given."""
    for dest, (flag, kind, text) in PROTOCOL_OPTIONS.items():
        parser.add_argument(flag, dest=dest, type=kind, default=None, help=text)


def protocol_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The training protocol's settings in ``args``, by config field (``None``: not given)."""
    return {dest: getattr(args, dest, None) for dest in PROTOCOL_OPTIONS}


def add_training_options(parser: argparse.ArgumentParser) -> None:
    """``--population-size`` and ``--device``: how a worker trains the children."""
    parser.add_argument(
        "--population-size",
        type=positive_int,
        default=None,
        help="rules trained together as one stacked child per worker; 1: one at a time "
        "(default: 1 on the CPU, where stacking does not pay, 1024 on a GPU; a rule's result is the same either way)",
    )
    parser.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda when available)")


# ------------------------------------------------------------------------------------------------
# checks
# ------------------------------------------------------------------------------------------------
def check_backend(args: argparse.Namespace) -> None:
    """Reject ``--address`` without ``--backend ray``, before anything connects anywhere."""
    if args.address is not None and args.backend != "ray":
        raise UsageError(f"--address {args.address} is only for --backend ray, not --backend {args.backend}")


def output_folder(text: str, option: str) -> Path:
    """The report folder ``text``, created now so that a bad path fails before any work."""
    folder = Path(text)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{option} {text}: exists and is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"{option} {text}: cannot create the folder ({error.strerror or error})") from None
    return folder


def existing_store(path: str) -> str:
    """``path``, when a results store is there."""
    if not Path(path).exists():
        raise UsageError(f"no results store at {path}")
    return path


def eval_config(
    task: Optional[str],
    *,
    screen: bool,
    hurdle: bool,
    population_size: Optional[int] = None,
    device: Optional[str] = None,
    **protocol: Any,
):
    """The :class:`~optsearch.evaluation.config.EvalConfig` of ``task`` (the default task when None);
    ``protocol``: its training settings by field (:func:`protocol_settings`; ``None``: the task's);
    ``device`` is checked against this machine (``None``: CUDA when available). An unknown task, or
    one the search cannot train on (a language task), is a :class:`UsageError`."""
    from optsearch.evaluation.config import EvalConfig
    from optsearch.evaluation.tasks import DEFAULT_TASK, TASK_KINDS, TASKS
    from optsearch.evaluation.training.child import check_searchable
    from optsearch.evaluation.training.device import device_name

    task = task or DEFAULT_TASK
    if task not in TASKS:
        raise UsageError(f"unknown task {task!r}; tasks are {', '.join(TASKS)}")
    try:
        check_searchable(task, TASK_KINDS[task])
    except ValueError as error:
        raise UsageError(str(error)) from None
    try:
        device = device_name(device)
    except ValueError as error:
        raise UsageError(f"--device: {error}") from None
    return EvalConfig(task=task, screen=screen, hurdle=hurdle, population_size=population_size, device=device, **protocol)


def _searchers() -> Any:
    from optsearch.searchers.registry import available_searchers

    return available_searchers()


def check_searcher(name: str) -> str:
    """``name``, when it is a searcher spec: registered, an entry point, or ``module:attribute``."""
    from optsearch.searchers.registry import resolve_searcher

    try:
        resolve_searcher(name)
    except ValueError as error:
        raise UsageError(str(error)) from None
    return name


def searcher_options(name: str, texts: Optional[list[str]], groups: int) -> dict[str, Any]:
    """The ``--option key=value`` texts as the searcher's typed keyword arguments, each once; an
    ask/tell searcher is built once with them, so that a value it refuses fails before any work."""
    from optsearch.searchers.options import check_buildable, parse_option
    from optsearch.searchers.registry import resolve_searcher

    try:
        entry = resolve_searcher(name)
        options: dict[str, Any] = {}
        for text in texts or ():
            key, value = parse_option(entry, text)
            if key in options:
                raise UsageError(f"--option {key} is given twice")
            options[key] = value
        check_buildable(entry, options, groups)
    except ValueError as error:
        raise UsageError(str(error)) from None
    return options


def searcher_list(text: Optional[str], default: tuple[str, ...], option: str = "--searchers") -> tuple[str, ...]:
    """The searchers named by a comma-separated ``text`` (``default`` when None), each once
    (by label: ``a.b:Searcher`` and ``c.d:Searcher`` are both ``Searcher``)."""
    from optsearch.searchers.registry import default_label

    if text is None:
        return tuple(default)
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        raise UsageError(f"{option} {text!r} names no searcher; searchers are {', '.join(_searchers())}")
    for name in names:
        check_searcher(name)
    labels = [default_label(n) for n in names]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise UsageError(f"{option} names {repeated[0]!r} twice")
    return names


def with_overrides(config: Any, **values: Any) -> Any:
    """The dataclass ``config`` with each value that is not None put in place of its default."""
    return dataclasses.replace(config, **{name: value for name, value in values.items() if value is not None})

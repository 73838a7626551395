"""Experiment files: a comparison written down in TOML (``optsearch compare --config FILE``).

A file sets any of the keys of :data:`SETTINGS` (each the ``dest`` of one ``compare`` option,
checked by that option's own type) and a list of ``[[searchers]]``, each with a ``name`` (a
registered searcher, an entry point or ``module:attribute``), an optional ``label`` (default:
the name, or a ``module:attribute``'s attribute) and optional ``options`` (the searcher's keyword
arguments, typed by TOML and checked against the searcher's signature)::

    task = "mnist1d"
    budget = 200
    seeds = 5
    [[searchers]]
    name = "reinforce"
    label = "reinforce-noentropy"
    options = { entropy_weight = 0.0 }

Precedence: the command's defaults < the file < the flags given on the command line. Paths in a
file (``store``, ``out``, ``data_dir``) are relative to the file's folder, so a manifest
(:mod:`optsearch.manifest`) re-runs from wherever it is called, and a folder moved as a whole
still works. The tables a manifest adds for the record (:data:`INFORMATIONAL`) are accepted and
ignored. Every mistake is one :class:`ExperimentError` line that names the file.
"""

from __future__ import annotations

import argparse
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

from optsearch.cli_options import (
    budget_list,
    first_seed,
    groups,
    learning_rates,
    live_seed_count,
    nonnegative_int,
    positive_int,
    seed_runs,
    transfer_entries,
)
from optsearch.evaluation.executor import BACKENDS


class ExperimentError(ValueError):
    """A bad experiment file (a one-line message that starts with the file's path)."""


def _choice(choices: tuple[str, ...]) -> Callable[[str], str]:
    def check(text: str) -> str:
        if text not in choices:
            raise argparse.ArgumentTypeError(f"must be one of {', '.join(choices)}, got {text!r}")
        return text

    return check


@dataclass(frozen=True)
class Setting:
    """One key of an experiment file: the TOML type it must have, the command-line type that
    checks it (given the value as text), and whether it is a path (relative to the file)."""

    kind: type
    check: Optional[Callable[[str], Any]] = None
    path: bool = False

    def read(self, value: Any) -> Any:
        """``value`` checked: ``TypeError`` (wrong TOML type) or ``ValueError`` (out of range)."""
        if self.kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, self.kind) or (self.kind is int and isinstance(value, bool)):
            raise TypeError(_KIND_NAMES[self.kind])
        if self.check is None:
            return tuple(value) if isinstance(value, list) else value
        text = ",".join(repr(v) if isinstance(v, float) else str(v) for v in value) if isinstance(value, list) else str(value)
        try:
            return self.check(text)
        except argparse.ArgumentTypeError as error:
            raise ValueError(str(error)) from None


_KIND_NAMES = {int: "a whole number", float: "a number", str: "a string", bool: "true or false", list: "an array"}

#: Every key an experiment file may set, by the ``compare`` option's ``dest`` it stands for.
#: (A new ``compare`` option becomes a key with one line here.)
SETTINGS: dict[str, Setting] = {
    "task": Setting(str),
    "steps": Setting(int, positive_int),
    "lrs": Setting(list, learning_rates),
    "groups": Setting(int, groups),
    "budget": Setting(int, positive_int),
    "seeds": Setting(int, seed_runs),
    "first_seed": Setting(int, first_seed),
    "heldout_seeds": Setting(int, seed_runs),
    "race_top": Setting(int, nonnegative_int),
    "race_seeds": Setting(int, live_seed_count),
    "transfer": Setting(str, transfer_entries),
    "transfer_seeds": Setting(int, live_seed_count),
    "verdict_budgets": Setting(list, budget_list),
    "batch_size": Setting(int, positive_int),
    "backend": Setting(str, _choice(BACKENDS)),
    "workers": Setting(int, positive_int),
    "address": Setting(str),
    "data_dir": Setting(str, path=True),
    "store": Setting(str, path=True),
    "out": Setting(str, path=True),
    "population_size": Setting(int, positive_int),
    "device": Setting(str),
}

#: Keys of older files, read as the key they were renamed to (the live check became the race).
RENAMED = {"live_check": "race_top", "live_seeds": "race_seeds"}

#: Keys a manifest writes for the record; read back, they are ignored.
INFORMATIONAL = frozenset({"versions", "command", "git_commit", "git_dirty", "written_at", "bench"})

SEARCHER_KEYS = ("name", "label", "options")


@dataclass(frozen=True)
class Experiment:
    """A checked experiment file: the settings it gives (paths made absolute) and its searchers
    (``None`` when it lists none)."""

    path: Path
    settings: Mapping[str, Any]
    searchers: Optional[tuple[Any, ...]]  # of optsearch.searchers.studies.compare.Arm


def _load(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ExperimentError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ExperimentError(f"{path}: is a folder, not an experiment file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ExperimentError(f"{path}: cannot read it ({getattr(error, 'strerror', None) or error})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ExperimentError(f"{path}: not valid TOML: {error}") from None


def _setting(path: Path, name: str, value: Any) -> Any:
    setting = SETTINGS[name]
    try:
        checked = setting.read(value)
    except TypeError as error:
        raise ExperimentError(f"{path}: {name} must be {error}, got {value!r}") from None
    except ValueError as error:
        raise ExperimentError(f"{path}: {name} {error}") from None
    if setting.path:
        given = Path(checked).expanduser()
        return str(given if given.is_absolute() else path.parent / given)
    return checked


def _arm(path: Path, number: int, entry: Any):
    """The ``number``-th ``[[searchers]]`` entry as a checked :class:`~optsearch.searchers.studies.compare.Arm`."""
    from optsearch.searchers.studies.compare import Arm, check_label
    from optsearch.searchers.options import check_options
    from optsearch.searchers.registry import resolve_searcher

    where = f"{path}: [[searchers]] entry {number}"
    if not isinstance(entry, dict):
        raise ExperimentError(f"{where} must be a table, got {entry!r}")
    unknown = [key for key in entry if key not in SEARCHER_KEYS]
    if unknown:
        raise ExperimentError(f"{where}: unknown key {unknown[0]!r}; keys are {', '.join(SEARCHER_KEYS)}")
    name, label, options = entry.get("name"), entry.get("label"), entry.get("options", {})
    if not isinstance(name, str):
        raise ExperimentError(f"{where}: name must be a string (a searcher), got {name!r}" if name is not None else f"{where} has no name")
    if label is not None and not isinstance(label, str):
        raise ExperimentError(f"{where} ({name}): label must be a string, got {label!r}")
    if not isinstance(options, dict):
        raise ExperimentError(f"{where} ({name}): options must be a table, got {options!r}")
    try:
        searcher = resolve_searcher(name)
        arm = Arm(name, check_options(searcher, options), label)
        check_label(arm.name)
    except ValueError as error:
        raise ExperimentError(f"{where} ({label or name}): {error}") from None
    return arm


def read_experiment(path: "str | Path") -> Experiment:
    """Read and check the experiment file at ``path`` (:class:`ExperimentError` on any mistake)."""
    path = Path(path)
    data = _load(path)
    settings: dict[str, Any] = {}
    for name, value in data.items():
        if name in INFORMATIONAL or name == "searchers":
            continue
        name = RENAMED.get(name, name)
        if name not in SETTINGS:
            raise ExperimentError(f"{path}: unknown key {name!r}; keys are {', '.join([*SETTINGS, 'searchers'])}")
        settings[name] = _setting(path, name, value)
    searchers = data.get("searchers")
    if searchers is None:
        return Experiment(path, settings, None)
    if not isinstance(searchers, list) or not searchers:
        raise ExperimentError(f"{path}: searchers must be [[searchers]] tables (at least one), got {searchers!r}")
    arms = tuple(_arm(path, number, entry) for number, entry in enumerate(searchers, start=1))
    labels = [arm.name for arm in arms]
    repeated = next((label for label in labels if labels.count(label) > 1), None)
    if repeated is not None:
        raise ExperimentError(f"{path}: two searchers are labelled {repeated!r}; give each a label of its own")
    return Experiment(path, settings, arms)


def apply_experiment(args: argparse.Namespace, experiment: Experiment) -> argparse.Namespace:
    """``args`` with every setting of ``experiment`` whose option was not given (is ``None``)."""
    for name, value in experiment.settings.items():
        if getattr(args, name, None) is None:
            setattr(args, name, value)
    return args

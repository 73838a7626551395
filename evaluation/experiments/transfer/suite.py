"""Transfer over several tasks: every rule against Adam, task by task, in accuracy and in speed.

:func:`build_suite` takes the :class:`~.records.TransferResult` of each task entry (one
:func:`~.trainer.transfer` per ``TASK:MODEL``, all with the same rules and seeds) and makes one
:class:`SuiteCell` per rule (every rule but Adam, the baselines ``momentum`` and ``sgd`` included)
and task entry:

**Accuracy.** With ``a_s`` the rule's and ``b_s`` Adam's test accuracy with seed ``s`` (a failed
run counts 0.0, as in the transfer itself), over the seeds both have: the mean of
``d_s = a_s − b_s`` and its paired Student-t interval (:func:`~optsearch.evaluation.statistics.differences.paired_difference`)
at level ``1 − α/m``, where ``m`` is the number of rule × task cells (**Bonferroni**). The
verdict: *beats* Adam when the whole interval is above 0, *loses* when it is below 0, else
*undecided* (also with a single seed, which has no interval); a rule without seed runs (it failed
its whole learning-rate grid), or a task on which Adam has none, gives *failed*.

Why Bonferroni: by the union bound the ``m`` intervals hold together with probability at least
``1 − α`` whatever the dependence between them, and the cells are dependent (all cells of a task
share Adam's runs; a rule's cells share the rule). Sharper corrections (Šidák, Dunnett) assume
independence or a known joint law. The guarantee is for one look at a family fixed in advance,
which is what this is: the rules, tasks and seeds are chosen before training and the table is
computed once at the end, never used to decide whether to train more.

**Speed** (learned_optimization's "speedup over Adam"). On each task the target is Adam's final
validation accuracy, the mean over its seed runs (= the last point of Adam's mean curve). A mean
curve is the per-step mean of the seed runs' validation curves (failed runs count 0.0 from their
failure on). Steps-to-target: the first curve step at which a mean curve reaches (≥) the target,
∞ if it never does; Adam's own is computed the same way on its mean curve, so it is at most its
last step. ``speedup = Adam's steps-to-target / the rule's`` (0 when the rule never reaches it;
NaN where Adam has no seed runs, so no target). The **performance profile** (Dolan & Moré 2002)
of a rule is ``ρ(τ) = |{tasks: speedup ≥ τ}| / |tasks|`` on a log grid of τ
(:func:`tau_grid`); ``ρ(1)`` is the share of tasks on which the rule is at least as fast as Adam.

The files are written by :func:`.profile.write`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np

from ...statistics.differences import paired_difference
from .records import RuleTransfer, TransferResult

__all__ = [
    "ADAM",
    "ALPHA",
    "BEATS",
    "FAILED",
    "LOSES",
    "UNDECIDED",
    "VERDICTS",
    "SuiteCell",
    "TaskEntry",
    "TransferSuite",
    "bonferroni_level",
    "build_suite",
    "compare_to_adam",
    "mean_curve",
    "parse_task_entries",
    "performance_profile",
    "speedup",
    "steps_to_target",
    "tau_grid",
    "verdict",
]

ADAM = "adam"
ALPHA = 0.05
BEATS, LOSES, UNDECIDED, FAILED = "beats", "loses", "undecided", "failed"
VERDICTS = (BEATS, LOSES, UNDECIDED, FAILED)


# ------------------------------------------------------------------------------------------------
# Task entries: TASK[:MODEL],...
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TaskEntry:
    """One task of a suite and the network trained on it; ``label`` (``task-model``) names its folder.

    ``text``: the entry as given (for messages; not part of equality).
    """

    task: str
    model: str
    text: str = field(default="", compare=False)

    @property
    def label(self) -> str:
        return f"{self.task}-{self.model}"


def parse_task_entries(text: str, default_model: str = "paper") -> tuple[TaskEntry, ...]:
    """``"TASK[:MODEL],..."`` as entries; an entry without ``:MODEL`` gets ``default_model``.

    Names are stripped and lower-cased (the task and model registries ignore case) but not
    checked here: :class:`~.config.TransferConfig` does that. Raises ``ValueError``
    naming the entry for an empty entry, an empty task or model, more than one ``:``, or an
    entry given twice.
    """
    found: list[TaskEntry] = []
    for raw in text.split(","):
        entry = raw.strip()
        parts = entry.split(":")
        if len(parts) > 2:
            raise ValueError(f"--task entry {entry!r}: expected TASK or TASK:MODEL")
        task = parts[0].strip().lower()
        model = (parts[1] if len(parts) == 2 else default_model).strip().lower()
        if not task or not model:
            raise ValueError(f"--task entry {entry!r}: expected TASK or TASK:MODEL, comma-separated, none empty")
        item = TaskEntry(task, model, entry)
        if item in found:
            raise ValueError(f"--task entry {entry!r}: {item.task} with model {item.model} is given twice")
        found.append(item)
    return tuple(found)


# ------------------------------------------------------------------------------------------------
# Accuracy: paired differences to Adam
# ------------------------------------------------------------------------------------------------
def bonferroni_level(alpha: float, m: int) -> float:
    """The confidence level ``1 − α/m`` of each of ``m`` intervals that must hold together with ``1 − α``."""
    if not 0.0 < alpha < 1.0 or m < 1:
        raise ValueError(f"need 0 < alpha < 1 and m >= 1, got alpha={alpha}, m={m}")
    return 1.0 - alpha / m


def verdict(low: float, high: float) -> str:
    """:data:`BEATS` when ``low > 0``, :data:`LOSES` when ``high < 0``, else :data:`UNDECIDED` (NaN bounds too)."""
    if low > 0.0:
        return BEATS
    if high < 0.0:
        return LOSES
    return UNDECIDED


def _test_by_seed(rule: RuleTransfer) -> dict[int, float]:
    return {run.seed: float(run.test_acc or 0.0) for run in rule.runs}


# ------------------------------------------------------------------------------------------------
# Speed: steps to Adam's final validation accuracy
# ------------------------------------------------------------------------------------------------
def mean_curve(rule: RuleTransfer) -> Optional[tuple[np.ndarray, np.ndarray]]:
    """``(steps [P], mean validation accuracy [P])``: the per-step mean over the seed runs (``None`` without any)."""
    curves = rule.curves("val")
    if curves is None:
        return None
    steps, values = curves
    return steps, values.mean(axis=0)


def steps_to_target(steps: Sequence[float], curve: Sequence[float], target: float) -> float:
    """The first ``steps[i]`` with ``curve[i] >= target``; ``inf`` if none does (or ``target`` is NaN: NaN)."""
    if math.isnan(target):
        return math.nan
    reached = np.flatnonzero(np.asarray(curve, dtype=np.float64) >= target)
    return float(np.asarray(steps)[reached[0]]) if reached.size else math.inf


def speedup(adam_steps: float, rule_steps: float) -> float:
    """``adam_steps / rule_steps``: > 1 when the rule reaches the target sooner; 0 when it never does (∞ steps)."""
    if math.isnan(adam_steps) or math.isnan(rule_steps):
        return math.nan
    if math.isinf(rule_steps):
        return 0.0
    return adam_steps / rule_steps


def tau_grid(speedups: Sequence[float], per_doubling: int = 4) -> np.ndarray:
    """τ = 2^(k/per_doubling) from at most 1/16 to at least 16, widened to cover every finite speedup > 0.

    Includes τ = 1 exactly.
    """
    finite = [s for s in speedups if math.isfinite(s) and s > 0.0]
    low = math.floor(math.log2(min([1 / 16, *finite])))
    high = math.ceil(math.log2(max([16.0, *finite])))
    return 2.0 ** (np.arange(low * per_doubling, high * per_doubling + 1) / per_doubling)


def performance_profile(speedups: Sequence[float], taus: Sequence[float]) -> np.ndarray:
    """``ρ(τ)`` for every τ: the fraction of ``speedups`` that are ``≥ τ`` (NaN counts as below every τ)."""
    values = np.asarray(speedups, dtype=np.float64)
    if values.size == 0:
        return np.zeros(len(taus))
    with np.errstate(invalid="ignore"):
        return (values[None, :] >= np.asarray(taus, dtype=np.float64)[:, None]).mean(axis=1)


# ------------------------------------------------------------------------------------------------
# Cells and the suite
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SuiteCell:
    """One rule on one task against Adam (module docstring): the accuracy difference and the speedup.

    ``diff``/``low``/``high``: mean paired test-accuracy difference to Adam and its interval (NaN
    when ``verdict`` is ``failed``); ``seeds``: the number of paired seeds. ``steps_to_target``
    (∞: never) and ``adam_steps_to_target`` in optimizer steps; ``speedup`` their ratio.
    """

    rule: str
    task: str
    model: str
    diff: float
    low: float
    high: float
    verdict: str
    seeds: int
    steps_to_target: float
    adam_steps_to_target: float
    speedup: float

    @property
    def label(self) -> str:
        return f"{self.task}-{self.model}"

    def row(self) -> dict[str, Any]:
        """The CSV row (:data:`~.profile.CSV_COLUMNS`)."""
        return {
            "rule": self.rule,
            "task": self.task,
            "model": self.model,
            "diff_vs_adam": self.diff,
            "ci_low": self.low,
            "ci_high": self.high,
            "verdict": self.verdict,
            "seeds": self.seeds,
            "steps_to_target": self.steps_to_target,
            "adam_steps_to_target": self.adam_steps_to_target,
            "speedup": self.speedup,
        }


def compare_to_adam(rule: RuleTransfer, adam: RuleTransfer, *, level: float, task: str, model: str) -> SuiteCell:
    """The :class:`SuiteCell` of ``rule`` against ``adam`` on one task, the interval at confidence ``level``."""
    ours, theirs = _test_by_seed(rule), _test_by_seed(adam)
    seeds = sorted(set(ours) & set(theirs))
    if seeds:
        difference = paired_difference([ours[s] for s in seeds], [theirs[s] for s in seeds], confidence=level)
        diff, low, high, call = difference.mean, difference.low, difference.high, verdict(difference.low, difference.high)
    else:
        diff, low, high, call = math.nan, math.nan, math.nan, FAILED
    adam_curve, rule_curve = mean_curve(adam), mean_curve(rule)
    if adam_curve is None:
        adam_steps = rule_steps = math.nan
    else:
        target = float(adam_curve[1][-1])  # Adam's mean final validation accuracy
        adam_steps = steps_to_target(*adam_curve, target)
        rule_steps = math.inf if rule_curve is None else steps_to_target(*rule_curve, target)
    return SuiteCell(rule.name, task, model, diff, low, high, call, len(seeds), rule_steps, adam_steps, speedup(adam_steps, rule_steps))


@dataclass(frozen=True)
class TransferSuite:
    """Every rule × task cell against Adam (module docstring); :meth:`write` makes the files.

    ``entries``: the tasks in order; ``rules``: the compared rules in order (Adam excluded);
    ``cells``: one per rule and entry where the rule was trained; ``alpha``: the family-wise
    error rate of all intervals together.
    """

    entries: tuple[TaskEntry, ...]
    rules: tuple[str, ...]
    cells: tuple[SuiteCell, ...]
    alpha: float = ALPHA
    seeds: tuple[int, ...] = ()

    @property
    def m(self) -> int:
        """The number of intervals, the Bonferroni divisor."""
        return len(self.cells)

    @property
    def level(self) -> float:
        """The confidence level of each interval, ``1 − α/m``."""
        return bonferroni_level(self.alpha, max(1, self.m))

    def cell(self, rule: str, entry: TaskEntry) -> Optional[SuiteCell]:
        """The cell of ``rule`` on ``entry`` (``None`` if the rule was not trained there)."""
        for cell in self.cells:
            if cell.rule == rule and (cell.task, cell.model) == (entry.task, entry.model):
                return cell
        return None

    def tallies(self) -> dict[str, dict[str, int]]:
        """Per rule, how many of its cells have each verdict: ``{rule: {verdict: count}}``."""
        counts = {rule: {v: 0 for v in VERDICTS} for rule in self.rules}
        for cell in self.cells:
            counts[cell.rule][cell.verdict] += 1
        return counts

    def speedups(self, rule: str) -> list[float]:
        """The rule's speedup over Adam on every entry, in entry order (NaN where it has no cell)."""
        cells = [self.cell(rule, entry) for entry in self.entries]
        return [math.nan if c is None else c.speedup for c in cells]

    def profile(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """``(τ grid, {rule: ρ(τ)})``, the performance profile of every rule over the entries."""
        taus = tau_grid([c.speedup for c in self.cells])
        return taus, {rule: performance_profile(self.speedups(rule), taus) for rule in self.rules}

    def to_dict(self) -> dict[str, Any]:
        """Everything as plain data (non-finite numbers left as floats; the writer makes them JSON-safe)."""
        taus, profiles = self.profile()
        return {
            "alpha": self.alpha,
            "m": self.m,
            "level": self.level,
            "seeds": list(self.seeds),
            "tasks": [{"task": e.task, "model": e.model} for e in self.entries],
            "rules": list(self.rules),
            "cells": [cell.row() for cell in self.cells],
            "tallies": self.tallies(),
            "profile": {"tau": taus.tolist(), "fraction": {rule: values.tolist() for rule, values in profiles.items()}},
        }


def build_suite(results: Sequence[TransferResult], alpha: float = ALPHA) -> TransferSuite:
    """The :class:`TransferSuite` of ``results`` (one per task entry, same rules and seeds).

    Raises ``ValueError`` when ``results`` is empty or a result has no ``adam`` (every
    :func:`~.trainer.transfer` adds it).
    """
    if not results:
        raise ValueError("a transfer suite needs at least one task's result")
    entries = tuple(TaskEntry(r.task, r.config.model) for r in results)
    rules: list[str] = []
    for result in results:
        rules += [rule.name for rule in result.rules if rule.name != ADAM and rule.name not in rules]
    m = sum(1 for result in results for rule in result.rules if rule.name != ADAM)
    level = bonferroni_level(alpha, max(1, m))
    cells = []
    for result, entry in zip(results, entries):
        try:
            adam = result[ADAM]
        except KeyError:
            raise ValueError(f"the transfer on {entry.label} has no {ADAM!r} to compare with") from None
        by_name = {rule.name: rule for rule in result.rules}
        for name in rules:
            if name in by_name:
                cells.append(compare_to_adam(by_name[name], adam, level=level, task=entry.task, model=entry.model))
    return TransferSuite(entries, tuple(rules), tuple(cells), alpha, tuple(results[0].config.seeds))

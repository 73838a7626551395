"""The verdict at several budgets from the same runs: ``budgets.csv``, ``verdicts.csv`` and a section of ``summary.md``.

A run of ``B`` proposals holds its incumbent at every smaller budget ``b``: the best search reward among
its first ``b`` proposals, already re-trained on the held-out seeds (every incumbent a run ever had is).
So each budget's numbers come from every run cut to its first ``b`` proposals (its line of ``runs.csv``
at ``b``, :mod:`.runs`), computed by the very functions of the final summary
(:func:`~.summary.heldout_iqm`, :func:`~.runs.mean_compute_of`, :func:`~.summary.pairwise_scores`): at the
final budget they are the summary's numbers exactly. Per budget:

- per searcher (``budgets.csv``): the held-out IQM of the runs' incumbents at ``b`` with its bootstrap
  interval, and ``compute``, the mean Σ cost of the first ``b`` proposals;
- per pair of searchers (``verdicts.csv``): the difference of the held-out scores' 10 % trimmed means
  ``a − b`` with its Yuen t interval (:func:`~..statistics.differences.unpaired_difference`), and whether the interval excludes 0 (``separated``, one pair's own test);
  and the same at the **family-wise** level ``1 − α/m`` (``fw_ci_low``/``fw_ci_high``,
  ``separated_familywise``), Bonferroni over the ``m`` = pairs × budgets intervals of the table.

Why both: the table looks at every pair at every budget, so an unadjusted 95 % interval somewhere in
it excludes 0 by chance far more often than 5 % of the time. Only the family-wise column is a claim
about the table as a whole (its chance of any false separation is at most ``α`` by the union bound,
whatever the dependence between budgets, which share runs); the unadjusted column is what one pair's own
interval says at that budget. The final verdict of ``summary.md`` is family-wise over its pairs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from ..statistics.differences import Difference
from .data import ComparisonData, final_budget
from .formatting import cell, fmt, interval, write_csv
from .runs import RunRow, mean_compute_of, rows_at, run_rows, scores_of
from .summary import bonferroni_level, heldout_iqm, pairwise_scores

BUDGET_COLUMNS = ("budget", "searcher", "heldout_iqm", "ci_low", "ci_high", "compute")
VERDICT_COLUMNS = ("budget", "a", "b", "diff", "ci_low", "ci_high", "separated", "fw_ci_low", "fw_ci_high", "separated_familywise")


def budget_steps(budgets: Iterable[int], final: int) -> tuple[int, ...]:
    """``budgets`` with ``final`` added, sorted, each once; ``ValueError`` for one below 1 or above ``final``."""
    steps = set(budgets)
    for budget in sorted(steps):
        if budget < 1:
            raise ValueError(f"a verdict budget must be at least 1 proposal, got {budget}")
        if budget > final:
            raise ValueError(f"verdict budget {budget} is above the run's budget of {final} proposals")
    return tuple(sorted(steps | {final}))


@dataclass(frozen=True)
class BudgetVerdict:
    """The comparison at one budget: per searcher ``{searcher, heldout_iqm, ci_low, ci_high, compute}`` (in
    ``data.runs`` order), and per pair ``(a, b, difference of mean held-out scores a − b)``."""

    budget: int
    searchers: tuple[dict[str, Any], ...]
    pairs: tuple[tuple[str, str, Difference], ...]
    #: The same pairs with family-wise intervals (empty when no family level was asked for).
    familywise: tuple[tuple[str, str, Difference], ...] = ()

    @property
    def separated(self) -> list[tuple[str, str, Difference]]:
        """The pairs whose interval excludes 0, each as ``(winner, loser, difference winner − loser)``."""
        return _winners(self.pairs)

    @property
    def separated_familywise(self) -> list[tuple[str, str, Difference]]:
        """The pairs whose family-wise interval excludes 0, as :attr:`separated`."""
        return _winners(self.familywise)


def _winners(pairs) -> list[tuple[str, str, Difference]]:
    out = []
    for a, b, d in pairs:
        if d.separated:
            out.append((a, b, d) if d.mean > 0 else (b, a, Difference(-d.mean, -d.high, -d.low)))
    return out


def verdict_at(data: ComparisonData, budget: int, seed: int = 0, family: int = 0) -> BudgetVerdict:
    """The held-out IQM [CI] and compute of each searcher, and every pair's difference, with every run cut to
    its first ``budget`` proposals (the same bootstrap ``seed`` as the summary, so the final budget matches it).
    ``family``: the number of intervals the table holds; when > 0 every pair also gets its interval at the
    Bonferroni level ``1 − (1 − confidence) / family``."""
    return verdict_of_runs(rows_at(run_rows(data, [budget]), budget), budget, data.confidence, seed, family)


def verdict_of_runs(
    per_searcher: Mapping[str, Sequence[RunRow]], budget: int, confidence: float = 0.95, seed: int = 0, family: int = 0
) -> BudgetVerdict:
    """:func:`verdict_at` of the runs' lines at ``budget`` (:mod:`.runs`), by searcher."""
    scores = scores_of(dict(per_searcher))
    searchers = []
    for label, values in scores.items():
        iqm, low, high = heldout_iqm(values, confidence, seed)
        compute = mean_compute_of(per_searcher[label])
        searchers.append(dict(budget=budget, searcher=label, heldout_iqm=iqm, ci_low=low, ci_high=high, compute=compute))
    pairs = tuple((a, b, d) for a, b, d, _ in pairwise_scores(scores, confidence))
    familywise: tuple = ()
    if family > 0:
        familywise = tuple((a, b, d) for a, b, d, _ in pairwise_scores(scores, bonferroni_level(confidence, family)))
    return BudgetVerdict(budget, tuple(searchers), pairs, familywise)


def verdicts_by_budget(data: ComparisonData, budgets: Iterable[int], seed: int = 0) -> list[BudgetVerdict]:
    """:func:`verdict_at` for each of ``budgets`` and the final budget, smallest first, with family-wise
    intervals over every pair at every budget."""
    steps = budget_steps(budgets, final_budget(data))
    return verdicts_of_runs(run_rows(data, steps), steps, data.confidence, seed)


def verdicts_of_runs(
    rows: Sequence[RunRow], steps: Sequence[int], confidence: float = 0.95, seed: int = 0, looks: int = 1
) -> list[BudgetVerdict]:
    """:func:`verdicts_by_budget` of the runs' lines (:mod:`.runs`) at each of ``steps``: the family is every
    pair of searchers at every one of them, at each of the study's ``looks`` (a study merged after every part)."""
    verdicts = []
    for budget in steps:
        per_searcher = rows_at(rows, budget)
        k = len(per_searcher)
        verdicts.append(verdict_of_runs(per_searcher, budget, confidence, seed, len(steps) * k * (k - 1) // 2 * looks))
    return verdicts


def budget_lines(verdicts: Sequence[BudgetVerdict], confidence: float = 0.95, looks: int = 1) -> list[str]:
    """The ``## Verdict by budget`` section of ``summary.md``: a row per budget, a column per searcher."""
    if not verdicts:
        return []
    labels = [row["searcher"] for row in verdicts[0].searchers]
    level = f"{round(confidence * 100)} %"
    family = len(verdicts) * len(verdicts[0].pairs) * looks
    lines = [
        "## Verdict by budget",
        "",
        "The same runs judged at smaller budgets: at budget *b* a run's score is the held-out score of its incumbent "
        f"among its first *b* proposals. Cells: held-out IQM [{level} CI]. *Separated (family-wise)*: pairs whose "
        f"Yuen t interval of the difference of the held-out scores' 10 % trimmed means excludes 0 at the Bonferroni level over all "
        f"{family} pair × budget{' × planned look' if looks > 1 else ''} intervals of this table, so the chance that any of them is wrong is at most "
        f"{100 - round(confidence * 100)} %. *Unadjusted only*: pairs whose own {level} interval excludes 0 at that "
        "budget, but not family-wise (a table this size shows some by chance). Compute at each "
        "budget: `budgets.csv`; every pair: `verdicts.csv`.",
        "",
        "| budget | " + " | ".join(cell(label) for label in labels) + " | separated (family-wise) | unadjusted only |",
        "|" + "---|" * (len(labels) + 3),
    ]
    for verdict in verdicts:
        cells = [f"{fmt(row['heldout_iqm'], 3)} {interval(row['ci_low'], row['ci_high'])}" for row in verdict.searchers]
        strong = verdict.separated_familywise
        named = {(w, l) for w, l, _ in strong}
        weak = [(w, l, d) for w, l, d in verdict.separated if (w, l) not in named]
        text = [cell("; ".join(f"{w} > {l} ({d.mean:+.3f} {interval(d.low, d.high)})" for w, l, d in group) or "none") for group in (strong, weak)]
        lines.append("| " + " | ".join([str(verdict.budget), *cells, *text]) + " |")
    return lines + [""]


def write_budget_tables(verdicts: Sequence[BudgetVerdict], out_dir: Path) -> tuple[Path, Path]:
    """Write ``budgets.csv`` (a row per budget and searcher) and ``verdicts.csv`` (a row per budget and pair)."""
    rows = [row for verdict in verdicts for row in verdict.searchers]
    pairs = []
    for v in verdicts:
        wide = {(a, b): d for a, b, d in v.familywise}
        for a, b, d in v.pairs:
            fw = wide.get((a, b))
            pairs.append(
                dict(
                    budget=v.budget, a=a, b=b, diff=d.mean, ci_low=d.low, ci_high=d.high, separated=d.separated,
                    fw_ci_low=None if fw is None else fw.low, fw_ci_high=None if fw is None else fw.high,
                    separated_familywise=None if fw is None else fw.separated,
                )
            )
    return write_csv(out_dir / "budgets.csv", BUDGET_COLUMNS, rows), write_csv(out_dir / "verdicts.csv", VERDICT_COLUMNS, pairs)

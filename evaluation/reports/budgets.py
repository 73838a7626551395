"""The verdict at several budgets from the same runs: ``budgets.csv``, ``verdicts.csv`` and a section of ``summary.md``.

A run of ``B`` proposals holds its incumbent at every smaller budget ``b``: the best search reward among
its first ``b`` proposals, already re-trained on the held-out seeds (every incumbent a run ever had is).
So each budget's numbers come from the comparison with every run cut to its first ``b`` proposals
(:func:`truncated`), computed by the very functions of the final summary
(:func:`~.summary.heldout_iqm`, :func:`~.summary.mean_compute`, :func:`~.summary.pairwise`): at the final
budget they are the summary's numbers exactly. Per budget:

- per searcher (``budgets.csv``): the held-out IQM of the runs' incumbents at ``b`` with its bootstrap
  interval, and ``compute``, the mean Σ cost of the first ``b`` proposals;
- per pair of searchers (``verdicts.csv``): the difference of mean held-out scores ``a − b`` with its
  bootstrap interval, and whether the interval excludes 0 (``separated``), the test of the final verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable, Sequence

from .data import ComparisonData
from .differences import Difference
from .formatting import cell, fmt, interval, write_csv
from .summary import heldout_iqm, mean_compute, pairwise

BUDGET_COLUMNS = ("budget", "searcher", "heldout_iqm", "ci_low", "ci_high", "compute")
VERDICT_COLUMNS = ("budget", "a", "b", "diff", "ci_low", "ci_high", "separated")


def final_budget(data: ComparisonData) -> int:
    """The comparison's budget: the most proposals any run made."""
    return max((len(run) for per_seed in data.runs.values() for run in per_seed), default=0)


def budget_steps(budgets: Iterable[int], final: int) -> tuple[int, ...]:
    """``budgets`` with ``final`` added, sorted, each once; ``ValueError`` for one below 1 or above ``final``."""
    steps = set(budgets)
    for budget in sorted(steps):
        if budget < 1:
            raise ValueError(f"a verdict budget must be at least 1 proposal, got {budget}")
        if budget > final:
            raise ValueError(f"verdict budget {budget} is above the run's budget of {final} proposals")
    return tuple(sorted(steps | {final}))


def truncated(data: ComparisonData, budget: int) -> ComparisonData:
    """``data`` with every run cut to its first ``budget`` proposals (held-out scores, baselines, texts kept)."""
    return replace(data, runs={label: [list(run[:budget]) for run in per_seed] for label, per_seed in data.runs.items()})


@dataclass(frozen=True)
class BudgetVerdict:
    """The comparison at one budget: per searcher ``{searcher, heldout_iqm, ci_low, ci_high, compute}`` (in
    ``data.runs`` order), and per pair ``(a, b, difference of mean held-out scores a − b)``."""

    budget: int
    searchers: tuple[dict[str, Any], ...]
    pairs: tuple[tuple[str, str, Difference], ...]

    @property
    def separated(self) -> list[tuple[str, str, Difference]]:
        """The pairs whose interval excludes 0, each as ``(winner, loser, difference winner − loser)``."""
        out = []
        for a, b, d in self.pairs:
            if d.separated:
                out.append((a, b, d) if d.mean > 0 else (b, a, Difference(-d.mean, -d.high, -d.low)))
        return out


def verdict_at(data: ComparisonData, budget: int, seed: int = 0) -> BudgetVerdict:
    """The held-out IQM [CI] and compute of each searcher, and every pair's difference, with every run cut to
    its first ``budget`` proposals (the same bootstrap ``seed`` as the summary, so the final budget matches it)."""
    cut = truncated(data, budget)
    searchers = []
    for label, per_seed in cut.runs.items():
        iqm, low, high = heldout_iqm(cut.final_heldout(label), cut.confidence, seed)
        compute = mean_compute(per_seed)
        searchers.append(dict(budget=budget, searcher=label, heldout_iqm=iqm, ci_low=low, ci_high=high, compute=compute))
    return BudgetVerdict(budget, tuple(searchers), tuple((a, b, d) for a, b, d, _ in pairwise(cut, seed)))


def verdicts_by_budget(data: ComparisonData, budgets: Iterable[int], seed: int = 0) -> list[BudgetVerdict]:
    """:func:`verdict_at` for each of ``budgets`` and the final budget, smallest first."""
    return [verdict_at(data, budget, seed) for budget in budget_steps(budgets, final_budget(data))]


def budget_lines(verdicts: Sequence[BudgetVerdict], confidence: float = 0.95) -> list[str]:
    """The ``## Verdict by budget`` section of ``summary.md``: a row per budget, a column per searcher."""
    if not verdicts:
        return []
    labels = [row["searcher"] for row in verdicts[0].searchers]
    level = f"{round(confidence * 100)} %"
    lines = [
        "## Verdict by budget",
        "",
        "The same runs judged at smaller budgets: at budget *b* a run's score is the held-out score of its incumbent "
        f"among its first *b* proposals. Cells: held-out IQM [{level} CI]; a pair is separated when the {level} "
        "bootstrap interval of the difference of mean held-out scores excludes 0, as in the verdict above. "
        "Compute at each budget: `budgets.csv`; every pair: `verdicts.csv`.",
        "",
        "| budget | " + " | ".join(cell(label) for label in labels) + " | separated pairs |",
        "|" + "---|" * (len(labels) + 2),
    ]
    for verdict in verdicts:
        cells = [f"{fmt(row['heldout_iqm'], 3)} {interval(row['ci_low'], row['ci_high'])}" for row in verdict.searchers]
        pairs = [f"{w} > {l} ({d.mean:+.3f} {interval(d.low, d.high)})" for w, l, d in verdict.separated]
        lines.append("| " + " | ".join([str(verdict.budget), *cells, cell("; ".join(pairs) or "none")]) + " |")
    return lines + [""]


def write_budget_tables(verdicts: Sequence[BudgetVerdict], out_dir: Path) -> tuple[Path, Path]:
    """Write ``budgets.csv`` (a row per budget and searcher) and ``verdicts.csv`` (a row per budget and pair)."""
    rows = [row for verdict in verdicts for row in verdict.searchers]
    pairs = [
        dict(budget=v.budget, a=a, b=b, diff=d.mean, ci_low=d.low, ci_high=d.high, separated=d.separated)
        for v in verdicts
        for a, b, d in v.pairs
    ]
    return write_csv(out_dir / "budgets.csv", BUDGET_COLUMNS, rows), write_csv(out_dir / "verdicts.csv", VERDICT_COLUMNS, pairs)

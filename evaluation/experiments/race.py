"""The raced leaderboard: rules and Adam trained on fresh held-out seeds until each rule is decided.

:func:`race_rules` runs :func:`~optsearch.evaluation.statistics.racing.race` with real trainings: every look trains the
undecided rules and Adam on the next seeds of :data:`RACE_SEED_BASE` … (full training through
``evaluator``, which must train fully: :func:`~.heldout.heldout_config`), reading a seed's test
accuracy at the learning rate its validation accuracy chose. The seeds are disjoint from search
seeds, table seeds and the comparison's held-out seeds, so a rule that topped the leaderboard on
its held-out seeds is judged on seeds it was not selected on. Every training goes through the
evaluator's cache and store: a race run again reads all of it back and trains nothing.

:func:`write_race` writes ``race.csv``, ``race.md`` (one verdict per rule, the procedure stated)
and ``race.png`` (each rule's paired difference to Adam with its interval).
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

from optsearch.dsl import resolve_rule

from ..reports.formatting import code, write_csv
from ..statistics.racing import BEATS, LOSES, RacePlan, RaceRow, race
from .heldout import HELDOUT_SEED_BASE

#: Race seeds start here: disjoint from search seeds (0, 1, …), the comparison's held-out seeds
#: (:data:`~.heldout.HELDOUT_SEED_BASE` …) and a bench's table seeds.
RACE_SEED_BASE = HELDOUT_SEED_BASE + 500_000
COLUMNS = ("rule", "reference", "mean", "adam_mean", "diff_vs_adam", "diff_ci_low", "diff_ci_high", "confidence", "verdict", "seeds", "detectable")


@dataclass(frozen=True)
class RaceResult:
    """A finished race: one row per rule, the held-out means behind them, and what it cost."""

    task: str
    plan: RacePlan
    rows: tuple[RaceRow, ...]
    means: dict[str, float]
    adam_mean: float
    references: dict[str, float] = field(default_factory=dict)
    trainings: int = 0
    wall_s: float = 0.0

    @property
    def seeds_used(self) -> int:
        """The most seeds any rule (and so Adam) was trained on."""
        return max((row.seeds for row in self.rows), default=0)


def race_seeds(count: int) -> tuple[int, ...]:
    """The race's first ``count`` seeds."""
    return tuple(range(RACE_SEED_BASE, RACE_SEED_BASE + count))


def race_rules(
    evaluator,
    rules: Sequence[str],
    plan: RacePlan = RacePlan(),
    *,
    references: Optional[dict[str, float]] = None,
    progress: Optional[Callable[[int, int], None]] = None,
    on_look: Optional[Callable[[int, int], None]] = None,
) -> RaceResult:
    """Race ``rules`` (text or names) against Adam on ``evaluator``'s task with ``plan``.

    ``references``: a number to show beside each rule (its held-out mean on the leaderboard, or
    the bench's expectation). ``on_look(seeds, undecided)`` is called before each look.
    ``progress(done, total)``: the race's seeds trained of its cap, called at the start and after
    every seed; a race whose rules are all decided before the cap ends with ``done == total`` at
    the seeds it used (presentation only).
    ``trainings`` counts the rules trained (not cache hits): 0 when the race is run again.
    """
    started = time.perf_counter()
    parsed = {rule: resolve_rule(rule) for rule in rules}  # a typo fails before any training
    baseline = resolve_rule("adam")
    scores: dict[str, list[float]] = {rule: [] for rule in parsed}
    adam_scores: list[float] = []  # kept apart: "adam" may be raced too, against itself
    trainings = 0
    if progress is not None and rules:
        progress(0, plan.cap)

    def draw(active: Sequence[str], n: int) -> dict[str, tuple[list[float], list[float]]]:
        nonlocal trainings
        if on_look is not None:
            on_look(n, len(active))
        for seed in race_seeds(n)[len(adam_scores) :]:  # undecided rules hold every earlier seed
            results = evaluator.evaluate([*(parsed[rule] for rule in active), baseline], seed=seed, searcher="race", run_id="race")
            trainings += len({r.fingerprint for r in results if not r.cached})
            for rule, result in zip(active, results):
                scores[rule].append(result.test_acc)
            adam_scores.append(results[-1].test_acc)
            if progress is not None:
                progress(len(adam_scores), plan.cap)
        return {rule: (scores[rule][:n], adam_scores[:n]) for rule in active}

    rows = race(list(rules), draw, plan)
    if progress is not None and rules and len(adam_scores) < plan.cap:
        progress(len(adam_scores), len(adam_scores))  # decided early: the race is done
    means = {rule: statistics.fmean(scores[rule]) for rule in rules if scores[rule]}
    adam = statistics.fmean(adam_scores) if adam_scores else math.nan
    return RaceResult(
        task=evaluator.task,
        plan=plan,
        rows=tuple(rows),
        means=means,
        adam_mean=adam,
        references=dict(references or {}),
        trainings=trainings,
        wall_s=time.perf_counter() - started,
    )


def write_race(result: RaceResult, out_dir: Path, *, reference_label: str = "held-out mean") -> dict[str, Path]:
    """Write ``race.csv``, ``race.md`` and ``race.png`` into ``out_dir``; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    records = []
    for row in result.rows:
        records.append(
            {
                "rule": row.rule,
                "reference": result.references.get(row.rule),
                "mean": result.means.get(row.rule),
                "adam_mean": result.adam_mean,
                "diff_vs_adam": row.diff,
                "diff_ci_low": row.low,
                "diff_ci_high": row.high,
                "confidence": 1 - row.level,
                "verdict": row.verdict,
                "seeds": row.seeds,
                "detectable": row.detectable,
            }
        )
    paths = {"race_csv": write_csv(out_dir / "race.csv", COLUMNS, records)}
    paths["race_md"] = out_dir / "race.md"
    paths["race_md"].write_text(race_markdown(result, reference_label))
    paths["race_png"] = plot_race(result, out_dir / "race.png")
    return paths


def race_markdown(result: RaceResult, reference_label: str = "held-out mean") -> str:
    """The raced leaderboard as markdown: a verdict per rule, then the procedure in words."""
    plan = result.plan
    show_reference = bool(result.references)
    head = f"| rule | {reference_label} | " if show_reference else "| rule | "
    lines = [
        f"# Raced against Adam on {result.task}",
        "",
        head + "race mean | vs Adam (paired) | verdict |",
        "|---|" + ("---|" if show_reference else "") + "---|---|---|",
    ]
    for row in result.rows:
        reference = f"{result.references[row.rule]:.3f} | " if show_reference and row.rule in result.references else ("— | " if show_reference else "")
        mean = result.means.get(row.rule, math.nan)
        lines.append(
            f"| {code(row.rule)} | {reference}{mean:.3f} | {row.diff:+.3f} [{row.low:+.3f}, {row.high:+.3f}] "
            f"({100 * (1 - row.level):.2f} %) | {_verdict_cell(row)} |"
        )
    wins = sum(row.verdict == BEATS for row in result.rows)
    losses = sum(row.verdict == LOSES for row in result.rows)
    lines += [
        "",
        f"Adam's race mean: {result.adam_mean:.3f} over {result.seeds_used} seeds. {wins} of {len(result.rows)} rules beat "
        f"Adam, {losses} lose to it, the rest are undecided at the seed cap.",
        "",
        f"Each rule and Adam are trained fully on held-out seeds no search, table or leaderboard used (from "
        f"{RACE_SEED_BASE}), and paired seed by seed (test accuracy at the validation-chosen rate). The race looks "
        f"after {', '.join(str(n) for n in plan.looks)} seeds; a rule whose Student-t interval excludes 0 is decided and "
        f"stops. The error budget α = {plan.alpha:g} is split in advance over the looks ({plan.spending} spending) and "
        f"equally over the {len(result.rows)} rules (Bonferroni), so the chance that any verdict above is wrong is at "
        f"most {plan.alpha:.0%} whatever the dependence between looks and rules. An undecided rule's *could detect* is the "
        f"difference its seeds would find with 80 % power at its look's level.",
        "",
        f"{result.trainings} trainings, {result.wall_s:.0f} s.",
        "",
    ]
    return "\n".join(lines)


def _verdict_cell(row: RaceRow) -> str:
    if row.decided:
        return f"**{row.verdict}** at {row.seeds} seeds"
    return f"no difference detectable at {row.seeds} seeds (could detect ±{row.detectable:.3f})"


def plot_race(result: RaceResult, path: Path) -> Path:
    """Each rule's paired difference to Adam with its interval (green: beats, red: loses, grey: undecided)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(result.rows)
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(rows) + 1.5))
    colours = {BEATS: "tab:green", LOSES: "tab:red"}
    for y, row in enumerate(reversed(rows)):
        colour = colours.get(row.verdict, "tab:grey")
        if math.isfinite(row.low) and math.isfinite(row.high):
            ax.plot([row.low, row.high], [y, y], color=colour, linewidth=2)
        ax.plot([row.diff], [y], "o", color=colour)
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([f"{row.rule} ({row.seeds} seeds)" for row in reversed(rows)])
    ax.set_xlabel("test accuracy minus Adam's, paired (familywise 95 % intervals)")
    ax.set_title(f"Raced against Adam on {result.task}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path

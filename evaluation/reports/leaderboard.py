"""The leaderboard: the best rules found, in held-out numbers, each paired against Adam.

Candidates are every incumbent any run ever had (each has held-out scores), one per functional
class (fingerprint), shown in the shortest text of that class seen in the store (so
``ld * sign(adam)`` and ``ld * sign(m)`` are one row, written the short way). A rule's difference
to Adam is **paired**: rule minus Adam on each held-out seed, with a t interval
(:func:`~optsearch.evaluation.statistics.differences.paired_difference`); ``beats_adam`` only when the interval's low end is
above 0. The baselines (:data:`~.data.HELDOUT_BASELINES`) are ranked with the rest.

Found rules are shown simplified (:func:`~optsearch.dsl.simplify_checked`: constants folded, neutral
factors such as ``* sign(1)`` removed, kept only where the fingerprint is unchanged); the CSV gives
the node counts before and after. Grouping is by the stored fingerprint, as before.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

from optsearch.dsl import resolve_rule, simplify_checked, to_latex
from optsearch.dsl.expr import size

from ..ranking import best_distinct
from ..rewards import source_info
from ..statistics.differences import paired_difference
from ..statistics.incumbents import incumbents
from .data import ComparisonData
from .formatting import cell, code, fmt, interval, write_csv

COLUMNS = (
    "rule", "searcher", "heldout_mean", "diff_vs_adam", "diff_ci_low", "diff_ci_high", "beats_adam",
    "search_reward", "heldout_seeds", "latex", "length_before", "length_after",
)  # fmt: skip


@dataclass(frozen=True)
class LeaderboardRow:
    """One rule of the leaderboard (``searcher`` is ``baseline`` for the reference rules)."""

    rule: str
    searcher: str
    heldout_mean: float
    diff_vs_adam: float
    diff_ci_low: float
    diff_ci_high: float
    beats_adam: bool
    search_reward: Optional[float]
    heldout_seeds: int
    latex: str
    length_before: Optional[int] = None
    """Nodes of the rule as stored (``None`` where the text does not parse)."""
    length_after: Optional[int] = None
    """Nodes of ``rule`` as shown (simplified; a baseline's own rule)."""


def _latex(text: str) -> str:
    try:
        return to_latex(resolve_rule(text))
    except Exception:  # a stored rule the current language cannot parse: the text alone
        return ""


def _readable(text: str, simplify: bool) -> tuple[str, Optional[int], Optional[int]]:
    """The text to show (simplified if ``simplify`` and the fingerprint allows), and both lengths."""
    try:
        if not simplify:
            length = size(resolve_rule(text))
            return text, length, length
        checked = simplify_checked(resolve_rule(text))
    except Exception:  # a stored rule the current language cannot parse: the text alone
        return text, None, None
    return (checked.text if checked.changed else text), checked.length_before, checked.length_after


def readable_rule(text: str) -> str:
    """``text`` simplified (:func:`~optsearch.dsl.simplify_checked`), or as it is when it cannot be."""
    return _readable(text, simplify=True)[0]


def leaderboard(data: ComparisonData, k: int = 8) -> list[LeaderboardRow]:
    """The ``k`` best found rules by held-out mean, plus the baselines, best first."""
    adam = data.baseline_scores("adam")
    baseline_fps = set(data.baselines.values())
    found = [  # (searcher label, incumbent), every incumbent of every run that is not a baseline
        (label, incumbent.result)
        for label, per_seed in data.runs.items()
        for run in per_seed
        for incumbent in incumbents(run)
        if incumbent.result.fingerprint not in baseline_fps
    ]
    who: dict[str, set[str]] = {}  # fingerprint -> the searchers that had it as an incumbent
    best_reward: dict[str, float] = {}  # fingerprint -> its best search reward
    for label, r in found:
        who.setdefault(r.fingerprint, set()).add(label)
        best_reward[r.fingerprint] = max(best_reward.get(r.fingerprint, -math.inf), r.reward)
    # One row per functional class, by held-out mean (ties: the class seen first), named after the
    # first incumbent of the class (data.text_of: the shortest text of the class in the store).
    ranked = best_distinct(
        found, k, key=lambda item: item[1].fingerprint, score=lambda item: data.heldout.mean(item[1].fingerprint)
    )
    rows = [
        _row(data, r.fingerprint, data.text_of(r), ", ".join(sorted(who[r.fingerprint])), best_reward[r.fingerprint], adam)
        for _, r in ranked
    ]
    rows += [_row(data, fp, name, "baseline", None, adam) for name, fp in data.baselines.items()]
    return sorted(rows, key=lambda row: -row.heldout_mean)


def _row(data: ComparisonData, fp: str, text: str, searcher: str, reward, adam) -> LeaderboardRow:
    text, before, after = _readable(text, simplify=searcher != "baseline")
    scores = data.heldout.scores(fp)
    diff = paired_difference(scores, adam, data.confidence)
    return LeaderboardRow(
        rule=text,
        searcher=searcher,
        heldout_mean=statistics.fmean(scores),
        diff_vs_adam=diff.mean,
        diff_ci_low=diff.low,
        diff_ci_high=diff.high,
        beats_adam=diff.positive,
        search_reward=reward if reward is None or math.isfinite(reward) else None,
        heldout_seeds=len(scores),
        latex=_latex(text),
        length_before=before,
        length_after=after,
    )


def write_leaderboard(rows: list[LeaderboardRow], out_dir: Path, *, task: str = "") -> tuple[Path, Path]:
    """Write ``leaderboard.csv`` and ``leaderboard.md``; return their paths."""
    csv_path = write_csv(out_dir / "leaderboard.csv", COLUMNS, [asdict(row) for row in rows])
    seeds = max((row.heldout_seeds for row in rows), default=0)
    lines = [
        f"# Leaderboard{f' ({task})' if task else ''}",
        "",
        "| # | rule | equation | searcher | held-out mean | vs Adam (paired) [95 % CI] | beats Adam | search reward |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for rank, row in enumerate(rows, start=1):
        searcher = "*baseline*" if row.searcher == "baseline" else cell(row.searcher)
        equation = f"${cell(row.latex)}$" if row.latex else "—"
        lines.append(
            f"| {rank} | {code(row.rule)} | {equation} | {searcher} | {fmt(row.heldout_mean, 3)} | "
            f"{row.diff_vs_adam:+.3f} {interval(row.diff_ci_low, row.diff_ci_high)} | "
            f"{'**yes**' if row.beats_adam else 'no'} | {fmt(row.search_reward, 3)} |"
        )
    lines += [
        "",
        f"Held-out mean: test accuracy at the validation-chosen learning rate, averaged over {seeds} held-out "
        "seeds that no search used (full training). *vs Adam*: the mean of the per-seed differences to Adam on "
        "the same seeds, with a Student-t 95 % interval; a rule *beats Adam* only when the whole interval is "
        "above 0. Each functional class is shown once, in the shortest text of it seen in the store, simplified "
        "(constants folded, neutral factors such as `* sign(1)` dropped; kept only where the rule's fingerprint is "
        "unchanged; `leaderboard.csv` gives the node counts before and after). Search "
        "reward: the best single-seed validation reward the rule had during the search (not a result).",
        "",
    ]
    if source_info(task, strict=False).heldout_is_expectation:
        lines[-1:-1] = [
            "On a bench the held-out mean is the rule's **expected** test accuracy (the table's posterior mean or the "
            "surrogate's prediction), the same on every held-out seed, so the difference to Adam has no interval "
            "and *beats Adam* says only that the bench expects it: `race.md` trains the best rules for real, on fresh seeds, until each is decided.",
            "",
        ]
    md_path = out_dir / "leaderboard.md"
    md_path.write_text("\n".join(lines))
    return csv_path, md_path

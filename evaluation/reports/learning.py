"""Do the searchers learn? The mean search reward of their proposals, segment by segment of the budget.

A searcher that learns proposes better rules as it goes: the mean search reward of its proposals
rises from one segment of the budget to the next, while random search's stays flat. This is the
reward the searcher itself is told (one seed per proposal; a screened or failed rule counts as the
floor reward, a repeat counts again, since it spends budget), so it shows *where the searcher
samples*. How good its incumbent is, judged on held-out seeds, is the verdict's business.

Per searcher and segment ``[first, last]`` of the run (``SEGMENTS`` equal slices of the budget): the
mean over search seeds of each run's segment mean, with a Student-t interval over the seeds
(``learning.csv`` and a section of ``summary.md``), and the share of the segment's proposals that
the screen rejected.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..config import FLOOR_REWARD
from ..records import SCREENED
from ..statistics.racing import t_intervals
from .data import ComparisonData
from .formatting import cell, fmt, interval, write_csv

LEARNING_COLUMNS = ("searcher", "first", "last", "mean_reward", "ci_low", "ci_high", "screened_share", "seeds")

#: Segments of the budget the table shows (fewer when the budget is smaller).
SEGMENTS = 8


def segments(budget: int, count: int = SEGMENTS) -> list[tuple[int, int]]:
    """``count`` (at most ``budget``) contiguous ``[start, end)`` slices of ``range(budget)``, as equal as can be."""
    count = max(1, min(count, budget))
    edges = [round(budget * k / count) for k in range(count + 1)]
    return list(zip(edges[:-1], edges[1:]))


def _reward(result) -> float:
    return result.reward if math.isfinite(result.reward) else FLOOR_REWARD


def learning_rows(data: ComparisonData, count: int = SEGMENTS) -> list[dict[str, Any]]:
    """One row per searcher and segment of the shortest run's budget (see the module's docstring)."""
    lengths = [len(run) for per_seed in data.runs.values() for run in per_seed if run]
    if not lengths:
        return []
    spans = segments(min(lengths), count)
    rows = []
    for label, per_seed in data.runs.items():
        runs = [run for run in per_seed if run]
        for start, end in spans:
            means = np.asarray([np.mean([_reward(r) for r in run[start:end]]) for run in runs])
            screened = np.mean([r.status == SCREENED for run in runs for r in run[start:end]])
            _, low, high = (float(v[0]) for v in t_intervals(means[None, :], data.confidence))
            rows.append(
                {
                    "searcher": label,
                    "first": start + 1,
                    "last": end,
                    "mean_reward": float(means.mean()),
                    "ci_low": low,
                    "ci_high": high,
                    "screened_share": float(screened),
                    "seeds": len(runs),
                }
            )
    return rows


def learning_lines(rows: Sequence[dict[str, Any]], confidence: float = 0.95) -> list[str]:
    """The ``## Learning`` section of ``summary.md``: a row per searcher, a column per segment."""
    if not rows:
        return []
    spans = list(dict.fromkeys((row["first"], row["last"]) for row in rows))
    lines = [
        "## Learning",
        "",
        "Mean search reward of the proposals in each segment of the budget (the reward the searcher is told; "
        f"screened rules count as {FLOOR_REWARD:g}), averaged over search seeds [{round(confidence * 100)} % t-interval "
        "over seeds]. A searcher that learns proposes better rules as it goes; random search stays flat. "
        "Every segment's share of screened proposals: `learning.csv`.",
        "",
        "| searcher | " + " | ".join(f"{first}–{last}" for first, last in spans) + " |",
        "|" + "---|" * (len(spans) + 1),
    ]
    for label in dict.fromkeys(row["searcher"] for row in rows):
        cells = [f"{fmt(r['mean_reward'], 3)} {interval(r['ci_low'], r['ci_high'])}" for r in rows if r["searcher"] == label]
        lines.append(f"| {cell(label)} | " + " | ".join(cells) + " |")
    return lines + [""]


def write_learning(rows: Sequence[dict[str, Any]], out_dir: Path) -> Path:
    """``learning.csv``: every row of :func:`learning_rows`."""
    return write_csv(Path(out_dir) / "learning.csv", LEARNING_COLUMNS, rows)

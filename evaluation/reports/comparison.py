"""The comparison report: ``curves.png``, ``summary.csv``/``.md`` and ``leaderboard.csv``/``.md``.

Every number is held-out (see :mod:`.heldout`): a searcher is judged by how its incumbents do on
seeds the search never saw, a rule by its paired difference to Adam on those seeds.
"""

from __future__ import annotations

from pathlib import Path

from .curves import plot_curves
from .data import ComparisonData
from .leaderboard import leaderboard, write_leaderboard
from .summary import write_summary


def write_report(
    data: ComparisonData, out_dir: Path, *, reference: str = "random", leaderboard_size: int = 8, seed: int = 0
) -> dict[str, Path]:
    """Write every file of the report into ``out_dir``; returns name → path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary_csv, summary_md = write_summary(data, out, reference=reference, seed=seed)
    board_csv, board_md = write_leaderboard(leaderboard(data, leaderboard_size), out, task=data.task)
    return {
        "curves": plot_curves(data, out / "curves.png", seed=seed),
        "summary_csv": summary_csv,
        "summary_md": summary_md,
        "leaderboard_csv": board_csv,
        "leaderboard": board_md,
    }

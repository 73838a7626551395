"""The comparison report: ``curves.png``, ``summary.csv``/``.md``, ``leaderboard.csv``/``.md`` and
``learning.csv`` (whether the searchers' proposals improve as they go: :mod:`.learning`), ``runs.csv``
(every run at every budget of the verdict, the lines those numbers are computed from: :mod:`.runs`), and, given
verdict budgets, ``budgets.csv``/``verdicts.csv`` with a section of ``summary.md`` (:mod:`.budgets`).

Every number is held-out (see :mod:`~optsearch.evaluation.experiments.heldout`): a searcher is judged by how its incumbents do on
seeds the search never saw, a rule by its paired difference to Adam on those seeds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

from .budgets import budget_lines, budget_steps, verdicts_of_runs, write_budget_tables
from .curves import plot_curves
from .data import ComparisonData, final_budget
from .leaderboard import LeaderboardRow, leaderboard, write_leaderboard
from .learning import learning_lines, learning_rows, write_learning
from .runs import run_rows, write_runs
from .summary import write_summary


def write_report(
    data: ComparisonData,
    out_dir: Path,
    *,
    reference: str = "random",
    leaderboard_size: int = 8,
    seed: int = 0,
    verdict_budgets: Sequence[int] = (),
    board: Optional[list[LeaderboardRow]] = None,
) -> dict[str, Path]:
    """Write every file of the report into ``out_dir``; returns name → path. With ``verdict_budgets``
    (the final budget is added) the verdict is also given at each of them. ``board`` is the
    comparison's leaderboard when the caller has computed it (it is computed once per comparison);
    otherwise the ``leaderboard_size`` best rows of ``data``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    steps = budget_steps(verdict_budgets, final_budget(data))
    runs = run_rows(data, steps)
    verdicts = verdicts_of_runs(runs, steps, data.confidence, seed) if verdict_budgets else []
    learning = learning_rows(data)
    more = budget_lines(verdicts, data.confidence) + learning_lines(learning, data.confidence)
    summary_csv, summary_md = write_summary(data, out, reference=reference, seed=seed, more=more, runs=runs)
    board_csv, board_md = write_leaderboard(leaderboard(data, leaderboard_size) if board is None else board, out, task=data.task)
    files = {"learning_csv": write_learning(learning, out), "runs_csv": write_runs(runs, out)}
    if verdicts:
        files["budgets_csv"], files["verdicts_csv"] = write_budget_tables(verdicts, out)
    return {
        "curves": plot_curves(data, out / "curves.png", seed=seed),
        "summary_csv": summary_csv,
        "summary_md": summary_md,
        "leaderboard_csv": board_csv,
        "leaderboard": board_md,
        **files,
    }

"""The report's learning table: the mean search reward of the proposals in each segment of the budget."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
from scipy import stats as sst

from optsearch.evaluation.config import EvalConfig
from optsearch.evaluation.records import OK, SCREENED, EvalResult
from optsearch.evaluation.reports.data import ComparisonData
from optsearch.evaluation.reports.learning import learning_lines, learning_rows, segments
from optsearch.evaluation.statistics.incumbents import HeldoutScores
from optsearch.searchers.studies.compare import CompareConfig, run_comparison


def result(reward: float, status=OK) -> EvalResult:
    return EvalResult(rule="r", canonical="r", fingerprint="fp", task="t", config_hash="c", reward=reward, status=status)


def data(runs) -> ComparisonData:
    return ComparisonData(runs=runs, heldout=HeldoutScores((), {}), baselines={})


def test_segments_cover_the_budget_once_in_order():
    for budget, count in [(2000, 8), (10, 8), (7, 3), (3, 8), (1, 8)]:
        spans = segments(budget, count)
        assert len(spans) == min(budget, count)
        assert [i for start, end in spans for i in range(start, end)] == list(range(budget))
        sizes = [end - start for start, end in spans]
        assert max(sizes) - min(sizes) <= 1


def test_rows_are_segment_means_over_seeds_with_a_t_interval():
    # "climber" proposes 0.1, 0.2, ... on seed 0 and twice that on seed 1; "flat" is constant and
    # screens its first half; a NaN reward counts as the floor 0
    climber = [[result(0.1 * (i + 1)) for i in range(4)], [result(0.2 * (i + 1)) for i in range(4)]]
    flat = [[result(0.0, SCREENED), result(0.0, SCREENED), result(0.5), result(math.nan)]] * 2
    rows = learning_rows(data({"climber": climber, "flat": flat}), count=2)
    assert [(r["searcher"], r["first"], r["last"], r["seeds"]) for r in rows] == [
        ("climber", 1, 2, 2), ("climber", 3, 4, 2), ("flat", 1, 2, 2), ("flat", 3, 4, 2)
    ]  # fmt: skip
    per_seed = np.array([[0.15, 0.35], [0.30, 0.70]])  # climber's segment means, seed by seed
    for k in range(2):
        assert rows[k]["mean_reward"] == pytest.approx(per_seed[:, k].mean())
        low, high = sst.t.interval(0.95, 1, loc=per_seed[:, k].mean(), scale=sst.sem(per_seed[:, k]))
        assert (rows[k]["ci_low"], rows[k]["ci_high"]) == pytest.approx((low, high))
    assert [r["mean_reward"] for r in rows[2:]] == pytest.approx([0.0, 0.25])
    assert [r["screened_share"] for r in rows] == [0.0, 0.0, 1.0, 0.0]
    lines = learning_lines(rows)
    assert lines[0] == "## Learning" and "| searcher | 1–2 | 3–4 |" in lines
    assert any(line.startswith("| climber | 0.225 [") for line in lines)


@pytest.mark.slow
def test_a_comparison_writes_the_learning_table_from_its_runs(tmp_path):
    compare = CompareConfig(searchers=("random", "evolution"), budget=12, seeds=2, heldout_seeds=2, race_top=0)
    outcome = run_comparison(compare, EvalConfig(task="quadratic"), tmp_path, store=str(tmp_path / "s.sqlite"), backend="serial")
    with (tmp_path / "learning.csv").open(newline="") as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == 2 * 8
    for row in table:
        runs = outcome.runs[row["searcher"]]
        start, end = int(row["first"]) - 1, int(row["last"])
        expected = np.mean([np.mean([r.reward for r in run[start:end]]) for run in runs])
        assert float(row["mean_reward"]) == pytest.approx(expected)
    assert "## Learning" in (tmp_path / "summary.md").read_text()
